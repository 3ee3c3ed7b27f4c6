"""Sign-in pages (the second factor, enrolment, recovery codes) and the token API."""

import base64

import qrcode
from axes.handlers.proxy import AxesProxyHandler
from django import forms
from django.contrib.auth import authenticate, logout
from django.contrib.auth.decorators import login_required
from django.contrib.auth.signals import user_login_failed
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods
from django_otp import login as otp_login
from drf_spectacular.utils import extend_schema
from qrcode.image.svg import SvgPathImage
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from audit import trail

from . import tokens, two_factor
from .lockout import locked_out
from .models import ApiToken


class CodeForm(forms.Form):
    code = forms.CharField(
        label="Code", max_length=16, widget=forms.TextInput(attrs={"autocomplete": "one-time-code"})
    )


def _next_url(request) -> str:
    wanted = request.POST.get("next") or request.GET.get("next") or "/"
    allowed = url_has_allowed_host_and_scheme(wanted, {request.get_host()}, request.is_secure())
    return wanted if allowed else "/"


def _locked(request, user) -> bool:
    return AxesProxyHandler.is_locked(request, {"username": user.get_username()})


def _failed(request, user) -> None:
    """A wrong code counts towards the sign-in lockout, as a wrong password does."""
    user_login_failed.send(
        sender=__name__, credentials={"username": user.get_username()}, request=request
    )


@login_required
@require_http_methods(["GET", "POST"])
def verify(request):
    """The second step of signing in: a code from the app, or a recovery code."""
    user = request.user
    if _locked(request, user):
        logout(request)
        return render(request, "registration/locked_out.html", status=429)
    form = CodeForm(request.POST or None)
    if form.is_valid():
        device = two_factor.verify(user, form.cleaned_data["code"])
        if device is not None:
            otp_login(request, device)
            return redirect(_next_url(request))
        _failed(request, user)
        form.add_error("code", "That code is not right, or was already used.")
    return render(request, "registration/verify.html", {"form": form, "next": _next_url(request)})


def _qr_code(url: str) -> str:
    """The QR code of the app's set-up link, as an SVG data URI (no inline markup, no CDN)."""
    image = qrcode.make(url, image_factory=SvgPathImage)
    return "data:image/svg+xml;base64," + base64.b64encode(image.to_string()).decode()


@login_required
@require_http_methods(["GET", "POST"])
def setup(request):
    """Enrol an authenticator app: scan, confirm with a first code, keep the recovery codes."""
    user = request.user
    if two_factor.enrolled(user) and not user.is_verified():
        return redirect("verify")
    device = two_factor.start_enrolment(user)
    form = CodeForm(request.POST or None)
    if form.is_valid():
        codes = two_factor.confirm(device, form.cleaned_data["code"])
        if codes is not None:
            otp_login(request, device)
            trail.record(request, trail.Action.CREATE, None, "two_factor", device.persistent_id)
            return render(request, "registration/recovery_codes.html", {"codes": codes})
        form.add_error("code", "That code is not right: check the phone's clock and try again.")
    context = {
        "form": form,
        "qr": _qr_code(device.config_url),
        "secret": device.config_url.split("secret=")[1].split("&")[0],
        "next": _next_url(request),
    }
    return render(request, "registration/two_factor_setup.html", context)


@login_required
@require_http_methods(["POST"])
def recovery_codes(request):
    """New recovery codes (the old ones stop working), for a verified session only."""
    if not request.user.is_verified():
        return redirect("verify")
    codes = two_factor.new_recovery_codes(request.user)
    trail.record(request, trail.Action.UPDATE, None, "two_factor", "recovery_codes")
    return render(request, "registration/recovery_codes.html", {"codes": codes})


# --- The token API ------------------------------------------------------------------


class IssueTokenSerializer(serializers.Serializer):
    username = serializers.CharField()
    password = serializers.CharField(style={"input_type": "password"}, trim_whitespace=False)
    device = serializers.CharField(max_length=100, help_text="What it is for: one per device.")
    otp_token = serializers.CharField(
        required=False, help_text="A code from the authenticator app, when the user has one."
    )


class ApiTokenSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="token_key", read_only=True)

    class Meta:
        model = ApiToken
        fields = ["id", "device", "created", "expiry", "last_used_at"]
        read_only_fields = fields


class IssuedTokenSerializer(ApiTokenSerializer):
    token = serializers.CharField(read_only=True, help_text="Shown once: keep it safe.")

    class Meta(ApiTokenSerializer.Meta):
        fields = [*ApiTokenSerializer.Meta.fields, "token"]
        read_only_fields = fields


class IssueTokenView(APIView):
    """Sign in for a token: username, password, a device name and, if asked, a code.

    Wrong credentials or codes count towards the same lockout as the web
    sign-in (429 once locked). A new token for a device replaces its old one.
    """

    authentication_classes = []
    permission_classes = [AllowAny]

    @extend_schema(request=IssueTokenSerializer, responses={201: IssuedTokenSerializer})
    def post(self, request):
        payload = IssueTokenSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        django_request = request._request
        user = authenticate(django_request, username=data["username"], password=data["password"])
        if getattr(django_request, "axes_locked_out", False):
            return locked_out(django_request)
        if user is None:
            return Response({"detail": "Wrong username or password."}, status=400)
        if two_factor.asked_of(user):
            if not two_factor.enrolled(user):
                return Response(
                    {"otp_token": ["Set up two-factor sign-in on the web first."]}, status=400
                )
            if two_factor.verify(user, data.get("otp_token", "")) is None:
                _failed(django_request, user)
                return Response({"otp_token": ["A valid code is required."]}, status=400)
        request.user = user
        token, raw = tokens.issue(request, user, data["device"])
        token.token = raw
        return Response(IssuedTokenSerializer(token).data, status=status.HTTP_201_CREATED)


class ApiTokenViewSet(mixins.ListModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet):
    """The signed-in user's own tokens, with their last use; DELETE revokes one."""

    serializer_class = ApiTokenSerializer
    queryset = ApiToken.objects.none()  # the model, for the schema; the rows are the user's
    lookup_field = "token_key"

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return self.queryset
        return ApiToken.objects.filter(user=self.request.user).order_by("-created")

    def perform_destroy(self, instance):
        tokens.revoke(self.request, instance)
