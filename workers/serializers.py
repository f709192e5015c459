from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from .auth_limits import EMAIL_MAX_LENGTH, PASSWORD_MAX_LENGTH, USERNAME_MAX_LENGTH
from .services import ROLE_REQUIRED_MESSAGE, signup_roles
from .usernames import username_errors

User = get_user_model()


class SignupSerializer(serializers.Serializer):
    # The length cap only bounds input; username_errors says what a username may be (3 to 30 characters...).
    username = serializers.CharField(max_length=USERNAME_MAX_LENGTH)
    password = serializers.CharField(write_only=True, max_length=PASSWORD_MAX_LENGTH, trim_whitespace=False)
    email = serializers.EmailField(max_length=EMAIL_MAX_LENGTH, help_text="where a password reset is sent")
    role = serializers.ChoiceField(choices=User.Role.choices, error_messages={"required": ROLE_REQUIRED_MESSAGE})

    def validate_username(self, value):
        errors = username_errors(value)
        if errors:
            raise serializers.ValidationError(errors)
        return value

    def validate_role(self, value):
        if value not in signup_roles():
            raise serializers.ValidationError(f"sign-up as a {value} is closed on this server; ask its staff")
        return value

    def validate(self, attrs):
        # Here, not in validate_password: the similarity check compares the password with the username and email.
        candidate = User(username=attrs["username"], email=attrs.get("email", ""))
        try:
            validate_password(attrs["password"], user=candidate)
        except DjangoValidationError as error:
            raise serializers.ValidationError({"password": list(error.messages)}) from None
        return attrs


class SigninSerializer(serializers.Serializer):
    """The credentials POST /api/auth/token/ takes, bounded before any lookup or hashing."""

    username = serializers.CharField(max_length=USERNAME_MAX_LENGTH)
    password = serializers.CharField(write_only=True, max_length=PASSWORD_MAX_LENGTH, trim_whitespace=False)


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField()
    expires_at = serializers.DateTimeField(allow_null=True, help_text="null: the token does not expire")


class MeSerializer(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ["id", "username", "email", "role", "is_staff"]
