"""A patient's record over its life: withdrawal from follow-up and retention (erasure)."""
