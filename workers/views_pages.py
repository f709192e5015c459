"""Sign-up, sign-in and the worker's task page."""

from django import forms
from django.conf import settings
from django.contrib.auth import get_user_model, login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import AuthenticationForm, PasswordResetForm, SetPasswordForm
from django.contrib.auth.password_validation import password_validators_help_texts, validate_password
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.utils.translation import gettext, gettext_lazy

from tasks.selectors import job_board as tasks_job_board
from tasks.selectors import job_for_worker

from . import auth_limits, selectors
from .services import ROLE_REQUIRED_MESSAGE, UsernameTaken, signup_roles, user_create
from .usernames import username_errors

User = get_user_model()


class SignupForm(forms.Form):
    username = forms.CharField(max_length=auth_limits.USERNAME_MAX_LENGTH)  # bounds input; clean_username rules
    password = forms.CharField(widget=forms.PasswordInput, max_length=auth_limits.PASSWORD_MAX_LENGTH, strip=False)
    email = forms.EmailField(max_length=auth_limits.EMAIL_MAX_LENGTH)  # where a password reset is sent
    # No role is preselected: a newcomer who skips the question would land on the wrong side of the platform.
    role = forms.ChoiceField(
        choices=User.Role.choices, widget=forms.RadioSelect, error_messages={"required": ROLE_REQUIRED_MESSAGE}
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        allowed = signup_roles()
        self.fields["role"].choices = [(value, label) for value, label in User.Role.choices if value in allowed]

    def clean_username(self):
        username = self.cleaned_data["username"]
        errors = username_errors(username)
        if errors:
            raise forms.ValidationError(errors)
        return username

    def clean(self):
        cleaned = super().clean()
        if "password" in cleaned:
            # The similarity check compares the password with the username and email, so it runs once all are in.
            candidate = User(username=cleaned.get("username", ""), email=cleaned.get("email", ""))
            try:
                validate_password(cleaned["password"], user=candidate)
            except forms.ValidationError as error:
                self.add_error("password", error)
        return cleaned


def signup(request):
    if not signup_roles():
        return render(
            request, "registration/signup.html", {"closed": True}, status=403 if request.method == "POST" else 200
        )
    address = auth_limits.client_address(request)
    wait = auth_limits.signup_reserve(address) if request.method == "POST" else 0
    form = SignupForm(request.POST if request.method == "POST" and not wait else None)
    context = {"form": form, "password_help": password_validators_help_texts()}
    if wait:
        context["refused"] = auth_limits.signup_blocked_message(wait)
        response = render(request, "registration/signup.html", context, status=429)
        response["Retry-After"] = str(wait)
        return response
    if request.method == "POST":
        try:
            if form.is_valid():
                user = user_create(**form.cleaned_data)
                login(request, user, backend="workers.authentication.LockoutModelBackend")
                return redirect("work" if user.is_worker else "dashboard")
        except UsernameTaken as exc:
            form.add_error("username", str(exc))
        except BaseException:
            auth_limits.signup_release(address)
            raise
        auth_limits.signup_release(address)  # no account was made: the sign-up is not used up
    return render(request, "registration/signup.html", context)


class SigninForm(AuthenticationForm):
    """Django's sign-in form with the password bounded too (the username already is, by the model)."""

    password = forms.CharField(
        label=gettext_lazy("Password"),
        strip=False,
        max_length=auth_limits.PASSWORD_MAX_LENGTH,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )


class SigninView(auth_views.LoginView):
    """Django's LoginView; a locked-out username or address gets 429 and how long to wait, before any
    password is checked (workers.authentication.LockoutModelBackend counts the failures)."""

    form_class = SigninForm
    redirect_authenticated_user = True

    def post(self, request, *args, **kwargs):
        username = request.POST.get("username", "")[: auth_limits.USERNAME_MAX_LENGTH]
        wait = auth_limits.signin_locked_for(username, auth_limits.client_address(request))
        if wait:
            return self.locked(request, wait)
        response = super().post(request, *args, **kwargs)
        wait = getattr(request, "signin_locked_for", 0)  # locked by attempts sent at the same moment
        return self.locked(request, wait) if wait else response

    def locked(self, request, wait: int):
        # An unbound form: a bound one would check the password as soon as the template asks for errors.
        context = self.get_context_data(form=self.form_class(request), refused=auth_limits.signin_locked_message(wait))
        response = self.render_to_response(context, status=429)
        response["Retry-After"] = str(wait)
        return response


class QuorumPasswordResetForm(PasswordResetForm):
    """Django's form (254 characters at most; mail only to active accounts with a password): the email template
    is plain text, and the same page follows whether or not the address has an account."""

    email = forms.EmailField(
        label=gettext_lazy("Email"),
        max_length=auth_limits.EMAIL_MAX_LENGTH,
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )


class PasswordResetView(auth_views.PasswordResetView):
    """Django's PasswordResetView; each request is counted per client address and per email before any mail is
    sent, so the form cannot be used to fill someone's inbox (429 and how long to wait)."""

    form_class = QuorumPasswordResetForm
    email_template_name = "registration/password_reset_email.txt"
    subject_template_name = "registration/password_reset_subject.txt"

    @property
    def extra_email_context(self):
        return {"valid_for": auth_limits.minutes_text(settings.PASSWORD_RESET_TIMEOUT)}

    def form_valid(self, form):
        wait = auth_limits.password_reset_attempt(auth_limits.client_address(self.request), form.cleaned_data["email"])
        if wait:
            context = self.get_context_data(form=form, refused=auth_limits.password_reset_blocked_message(wait))
            response = self.render_to_response(context, status=429)
            response["Retry-After"] = str(wait)
            return response
        return super().form_valid(form)


def _new_password_field(label: str) -> forms.CharField:
    return forms.CharField(
        label=label,
        strip=False,
        max_length=auth_limits.PASSWORD_MAX_LENGTH,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )


class BoundedSetPasswordForm(SetPasswordForm):
    """Django's form with both password fields bounded before any hashing or validation."""

    new_password1 = _new_password_field(gettext_lazy("New password"))
    new_password2 = _new_password_field(gettext_lazy("New password again"))


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    form_class = BoundedSetPasswordForm

    def get_context_data(self, **kwargs):
        return super().get_context_data(password_help=password_validators_help_texts(), **kwargs)


# The one notice a worker blocked on every job sees (staff block: workers.services.worker_block), with the reason.
BLOCKED_NOTICE = gettext_lazy(
    "Your account is blocked on every job by the platform's staff, so you get no new work. Money for answers "
    "already accepted stays yours. If you think this is a mistake, write to the staff who run this platform."
)


@login_required
def work(request):
    if not request.user.is_worker:
        raise PermissionDenied(gettext("This page is for workers."))
    return render(
        request,
        "worker/work.html",
        {
            "stats": selectors.worker_stats(request.user),
            "history": selectors.worker_history(request.user),
            "blocked_notice": BLOCKED_NOTICE,
            # ?job=<id> from the job board: work on that job only (the socket asks for it); else any job.
            "chosen_job": job_for_worker(request.user, request.GET.get("job")),
        },
    )


@login_required
def job_board(request):
    if not request.user.is_worker:
        raise PermissionDenied(gettext("This page is for workers."))
    return render(request, "worker/jobs.html", {"board": tasks_job_board(request.user)})


@login_required
def statement(request):
    """Every ledger entry of the signed-in worker with the running balance, and what awaits review."""
    if not request.user.is_worker:
        raise PermissionDenied(gettext("This page is for workers."))
    try:
        page = int(request.GET.get("page", "1")[:9])
    except ValueError:
        page = 1
    return render(
        request,
        "worker/statement.html",
        {
            "summary": selectors.worker_balance(request.user),
            "statement": selectors.worker_statement_page(request.user, page),
            "awaiting": selectors.worker_awaiting_review(request.user),
        },
    )
