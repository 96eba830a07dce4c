"""``thera user add``: a person who may sign in to the explorer when the stack runs with ApiAuth=Cognito.

As an admin adds one in AWS (console, or ``aws cognito-idp admin-create-user``), but with a
permanent password at once: there is no e-mail locally to carry a temporary one. The stack's saves
keep the users and a start adds them back (``thera_local.emulator.persistence.restore_users``).
"""

from __future__ import annotations

import secrets
import string

from thera_local.cognito import find_user_pool
from thera_local.emulator import aws_client
from thera_local.template import Template


class NoUserPool(RuntimeError):
    pass


def new_password() -> str:
    """A password the template's policy accepts: 16 characters, every class present."""
    classes = (string.ascii_lowercase, string.ascii_uppercase, string.digits, "!#%+-.=@^_")
    chars = [secrets.choice(c) for c in classes] + [secrets.choice("".join(classes)) for _ in range(12)]
    secrets.SystemRandom().shuffle(chars)
    return "".join(chars)


def add_user(template: Template, endpoint: str, email: str, password: str | None = None) -> str:
    """Create ``email`` in the emulator's pool with a permanent password; the password."""
    idp = aws_client("cognito-idp", endpoint)
    pool = find_user_pool(template, idp)
    if pool is None:
        raise NoUserPool("the stack has no user pool: start it with --parameter ApiAuth=Cognito")
    password = password or new_password()
    idp.admin_create_user(
        UserPoolId=pool.pool_id,
        Username=email,
        UserAttributes=[{"Name": "email", "Value": email}, {"Name": "email_verified", "Value": "true"}],
        MessageAction="SUPPRESS",
    )
    idp.admin_set_user_password(UserPoolId=pool.pool_id, Username=email, Password=password, Permanent=True)
    return password
