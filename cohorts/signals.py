"""What cohorts tells the apps above it, without importing them."""

from django.dispatch import Signal

# Sent with `patients` (a list) after they were enrolled or changed and
# re-assessed, inside the same transaction: their plans must follow. The
# scheduling app re-plans them.
reassessed = Signal()
