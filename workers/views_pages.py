"""Sign-up and the worker's task page."""

from django import forms
from django.contrib.auth import get_user_model, login
from django.contrib.auth.decorators import login_required
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render

from . import selectors
from .services import signup_roles, user_create

User = get_user_model()


class SignupForm(forms.Form):
    username = forms.CharField(max_length=150)
    password = forms.CharField(widget=forms.PasswordInput, min_length=8)
    role = forms.ChoiceField(choices=User.Role.choices, widget=forms.RadioSelect)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        allowed = signup_roles()
        self.fields["role"].choices = [(value, label) for value, label in User.Role.choices if value in allowed]
        self.fields["role"].initial = allowed[0] if allowed else None

    def clean_username(self):
        username = self.cleaned_data["username"]
        if User.objects.filter(username__iexact=username).exists():
            raise forms.ValidationError("This username is taken.")
        return username

    def clean_password(self):
        password = self.cleaned_data["password"]
        validate_password(password)
        return password


def signup(request):
    if not signup_roles():
        return render(
            request, "registration/signup.html", {"closed": True}, status=403 if request.method == "POST" else 200
        )
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = user_create(**form.cleaned_data)
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        return redirect("work" if user.is_worker else "dashboard")
    return render(request, "registration/signup.html", {"form": form})


@login_required
def work(request):
    if not request.user.is_worker:
        raise PermissionDenied("This page is for workers.")
    return render(
        request,
        "worker/work.html",
        {"stats": selectors.worker_stats(request.user), "history": selectors.worker_history(request.user)},
    )
