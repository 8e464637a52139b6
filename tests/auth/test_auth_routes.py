"""The Auth part of PROTOCOL.md, through HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import base64
import json
import time

import httpx
import jwt
import pytest

from tests.support import TEST_SECRET, error_code, register

pytestmark = pytest.mark.timeout(60)

REGISTER = "/api/v1/auth/register"
LOGIN = "/api/v1/auth/login"
REFRESH = "/api/v1/auth/refresh"
LOGOUT = "/api/v1/auth/logout"
ME = "/api/v1/auth/me"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_register_answers_the_token_object(client: httpx.AsyncClient) -> None:
    """Register answers 201 with the user and a bearer token pair."""
    response = await client.post(
        REGISTER, json={"username": "Alice", "email": "Alice@Example.com", "password": "s3cret-pw"}
    )
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"user", "access_token", "refresh_token", "token_type", "expires_in"}
    assert body["token_type"] == "bearer"
    assert body["expires_in"] > 0
    assert set(body["user"]) == {"id", "username", "email", "created_at"}
    assert body["user"]["username"] == "Alice"
    assert body["user"]["created_at"].endswith("Z")
    assert "password" not in response.text and "argon2" not in response.text


@pytest.mark.parametrize(
    ("first", "second", "code"),
    [
        (("bob", "bob@example.com"), ("BOB", "other@example.com"), "username_taken"),
        (("carol", "carol@example.com"), ("carol2", "CAROL@EXAMPLE.COM"), "email_taken"),
    ],
)
async def test_duplicates_in_another_case_are_refused(
    client: httpx.AsyncClient, first: tuple[str, str], second: tuple[str, str], code: str
) -> None:
    """Usernames and emails are unique whatever their letter case (409)."""
    ok = await client.post(
        REGISTER, json={"username": first[0], "email": first[1], "password": "password1"}
    )
    assert ok.status_code == 201
    again = await client.post(
        REGISTER, json={"username": second[0], "email": second[1], "password": "password1"}
    )
    assert again.status_code == 409
    assert error_code(again) == code


@pytest.mark.parametrize(
    ("body", "bad_fields"),
    [
        ({"username": "ab", "email": "a@example.com", "password": "password1"}, {"username"}),
        ({"username": "x" * 33, "email": "a@example.com", "password": "password1"}, {"username"}),
        ({"username": "bad name", "email": "a@example.com", "password": "password1"}, {"username"}),
        ({"username": "dave", "email": "not-an-email", "password": "password1"}, {"email"}),
        ({"username": "dave", "email": "d@example.com", "password": "short"}, {"password"}),
        ({"username": "dave", "email": "d@example.com", "password": "p" * 1025}, {"password"}),
        ({"username": 5, "email": None, "password": ["x"]}, {"username", "email", "password"}),
        ({}, {"username", "email", "password"}),
    ],
)
async def test_bad_registrations_name_every_bad_field(
    client: httpx.AsyncClient, body: dict, bad_fields: set[str]
) -> None:
    """A bad registration is 422 validation_error naming each bad field, and creates nobody."""
    response = await client.post(REGISTER, json=body)
    assert response.status_code == 422
    assert error_code(response) == "validation_error"
    assert set(response.json()["error"]["details"]["fields"]) == bad_fields
    login = await client.post(
        LOGIN, json={"username": "dave", "password": body.get("password", "")}
    )
    assert login.status_code in (401, 422)


async def test_password_limits_are_inclusive(client: httpx.AsyncClient) -> None:
    """Passwords of exactly 8 and 1024 characters are accepted."""
    for name, password in (("eight", "p" * 8), ("longest", "p" * 1024)):
        response = await client.post(
            REGISTER, json={"username": name, "email": f"{name}@example.com", "password": password}
        )
        assert response.status_code == 201


async def test_login_with_json_form_and_email(client: httpx.AsyncClient) -> None:
    """Login takes JSON or a form, with the username or the email in any case."""
    account = await register(client, "erin")
    as_json = await client.post(LOGIN, json={"username": "ERIN", "password": account.password})
    assert as_json.status_code == 200
    assert as_json.json()["user"]["id"] == account.id
    as_form = await client.post(
        LOGIN, data={"username": "erin@example.com", "password": account.password}
    )
    assert as_form.status_code == 200
    assert as_form.json()["token_type"] == "bearer"


async def test_login_does_not_reveal_which_usernames_exist(client: httpx.AsyncClient) -> None:
    """A wrong password and an unknown user get the same answer."""
    await register(client, "frank")
    wrong = await client.post(LOGIN, json={"username": "frank", "password": "wrong-password"})
    unknown = await client.post(LOGIN, json={"username": "nobody", "password": "wrong-password"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    assert error_code(wrong) == "invalid_credentials"


async def test_me_needs_a_valid_bearer(client: httpx.AsyncClient) -> None:
    """/auth/me answers the caller, and 401 unauthenticated without a usable token."""
    account = await register(client, "gina")
    me = await client.get(ME, headers=account.headers)
    assert me.status_code == 200
    assert me.json()["username"] == "gina"
    for headers in (
        {},
        {"Authorization": "Basic abc"},
        bearer("not.a.jwt"),
        {"Authorization": "Bearer"},
    ):
        refused = await client.get(ME, headers=headers)
        assert refused.status_code == 401
        assert error_code(refused) == "unauthenticated"


async def test_tampered_and_forged_tokens_are_refused(client: httpx.AsyncClient) -> None:
    """A token with a changed payload, another key, or alg none is unauthenticated."""
    account = await register(client, "hank")
    header, payload, signature = account.access_token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["sub"] = str(account.id + 1)
    forged_payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    tampered = f"{header}.{forged_payload}.{signature}"
    other_key = jwt.encode(
        claims, "another-key-that-is-long-enough-for-hs256-xx", algorithm="HS256"
    )
    alg_none = jwt.encode(claims, None, algorithm="none")
    for token in (tampered, other_key, alg_none):
        response = await client.get(ME, headers=bearer(token))
        assert response.status_code == 401
        assert error_code(response) == "unauthenticated"


async def test_a_refresh_token_is_not_an_access_token(client: httpx.AsyncClient) -> None:
    """Each token works only for its own purpose."""
    account = await register(client, "ivy")
    assert (await client.get(ME, headers=bearer(account.refresh_token))).status_code == 401
    wrong_kind = await client.post(REFRESH, json={"refresh_token": account.access_token})
    assert wrong_kind.status_code == 401


async def test_expired_token_is_token_expired(client: httpx.AsyncClient) -> None:
    """An access token past its exp is refused with token_expired."""
    account = await register(client, "jack")
    claims = jwt.decode(account.access_token, TEST_SECRET, algorithms=["HS256"], audience="tandem")
    now = int(time.time())
    claims.update(iat=now - 120, exp=now - 60)
    expired = jwt.encode(claims, TEST_SECRET, algorithm="HS256")
    response = await client.get(ME, headers=bearer(expired))
    assert response.status_code == 401
    assert error_code(response) == "token_expired"


async def test_a_token_accepted_before_is_token_expired_once_past_exp(
    client: httpx.AsyncClient,
) -> None:
    """A verified token is not trusted past its exp: the same token, used while valid
    and again after, gets token_expired the second time."""
    account = await register(client, "jade")
    claims = jwt.decode(account.access_token, TEST_SECRET, algorithms=["HS256"], audience="tandem")
    claims["exp"] = int(time.time()) + 2
    short_lived = jwt.encode(claims, TEST_SECRET, algorithm="HS256")
    assert (await client.get(ME, headers=bearer(short_lived))).status_code == 200
    await asyncio.sleep(claims["exp"] - time.time() + 0.1)
    response = await client.get(ME, headers=bearer(short_lived))
    assert response.status_code == 401
    assert error_code(response) == "token_expired"


async def test_refresh_rotates_the_pair(client: httpx.AsyncClient) -> None:
    """Refresh answers a new pair; the old refresh token stops working."""
    account = await register(client, "kate")
    first = await client.post(REFRESH, json={"refresh_token": account.refresh_token})
    assert first.status_code == 200
    fresh = first.json()
    assert fresh["refresh_token"] != account.refresh_token
    assert (await client.get(ME, headers=bearer(fresh["access_token"]))).status_code == 200
    second = await client.post(REFRESH, json={"refresh_token": fresh["refresh_token"]})
    assert second.status_code == 200


async def test_refresh_reuse_revokes_the_whole_login(client: httpx.AsyncClient) -> None:
    """Presenting a used refresh token revokes that login's tokens, but not other logins."""
    account = await register(client, "liam")
    other_login = (
        await client.post(LOGIN, json={"username": "liam", "password": account.password})
    ).json()
    rotated = (await client.post(REFRESH, json={"refresh_token": account.refresh_token})).json()
    reuse = await client.post(REFRESH, json={"refresh_token": account.refresh_token})
    assert reuse.status_code == 401
    assert error_code(reuse) == "token_revoked"
    for token in (account.access_token, rotated["access_token"]):
        response = await client.get(ME, headers=bearer(token))
        assert response.status_code == 401
        assert error_code(response) == "token_revoked"
    after = await client.post(REFRESH, json={"refresh_token": rotated["refresh_token"]})
    assert error_code(after) == "token_revoked"
    assert (await client.get(ME, headers=bearer(other_login["access_token"]))).status_code == 200


async def test_concurrent_refreshes_with_one_token_cannot_both_win(
    client: httpx.AsyncClient,
) -> None:
    """Simultaneous refreshes of one token: exactly one new pair, the others are reuse."""
    account = await register(client, "mia")
    answers = await asyncio.gather(
        *(client.post(REFRESH, json={"refresh_token": account.refresh_token}) for _ in range(4))
    )
    winners = [r for r in answers if r.status_code == 200]
    assert len(winners) == 1, [r.text for r in answers]
    losers = [(r.status_code, error_code(r)) for r in answers if r.status_code != 200]
    assert losers == [(401, "token_revoked")] * 3
    # A loser presented a used token: the whole login session is revoked, the
    # winner's new pair included.
    grant = winners[0].json()
    again = await client.post(REFRESH, json={"refresh_token": grant["refresh_token"]})
    assert (again.status_code, error_code(again)) == (401, "token_revoked")
    me = await client.get(ME, headers=bearer(grant["access_token"]))
    assert (me.status_code, error_code(me)) == (401, "token_revoked")


async def test_logout_revokes_both_tokens_at_once(client: httpx.AsyncClient) -> None:
    """After logout neither the access nor the refresh token of that login works."""
    account = await register(client, "noah")
    other = (
        await client.post(LOGIN, json={"username": "noah", "password": account.password})
    ).json()
    response = await client.post(
        LOGOUT, headers=account.headers, json={"refresh_token": account.refresh_token}
    )
    assert response.status_code == 204
    me = await client.get(ME, headers=account.headers)
    assert (me.status_code, error_code(me)) == (401, "token_revoked")
    refresh = await client.post(REFRESH, json={"refresh_token": account.refresh_token})
    assert (refresh.status_code, error_code(refresh)) == (401, "token_revoked")
    assert (await client.get(ME, headers=bearer(other["access_token"]))).status_code == 200


async def test_logout_without_body_and_without_bearer(client: httpx.AsyncClient) -> None:
    """Logout needs the bearer; its body is optional."""
    account = await register(client, "olga")
    assert (await client.post(LOGOUT)).status_code == 401
    assert (await client.post(LOGOUT, headers=account.headers)).status_code == 204
    assert (await client.get(ME, headers=account.headers)).status_code == 401


async def test_malformed_bodies(client: httpx.AsyncClient) -> None:
    """Unparseable JSON is 400, a foreign content type 415, a non-object 422."""
    broken = await client.post(
        REGISTER, content=b"{nope", headers={"Content-Type": "application/json"}
    )
    assert (broken.status_code, error_code(broken)) == (400, "malformed_request")
    xml = await client.post(REGISTER, content=b"<a/>", headers={"Content-Type": "application/xml"})
    assert (xml.status_code, error_code(xml)) == (415, "unsupported_media_type")
    array = await client.post(REGISTER, json=[1, 2])
    assert (array.status_code, error_code(array)) == (422, "validation_error")
    empty = await client.post(REFRESH, content=b"", headers={"Content-Type": "application/json"})
    assert (empty.status_code, error_code(empty)) == (400, "malformed_request")


async def test_sign_in_fields_say_missing_or_not_text(client: httpx.AsyncClient) -> None:
    """Login and refresh tell a missing field ("is required") from one that is not a
    string ("must be a string"), naming each."""
    cases: list[tuple[str, dict[str, object], dict[str, str]]] = [
        (LOGIN, {}, {"username": "is required", "password": "is required"}),
        (
            LOGIN,
            {"username": "", "password": 5},
            {"username": "is required", "password": "must be a string"},
        ),
        (LOGIN, {"username": ["ann"], "password": "secret-123"}, {"username": "must be a string"}),
        (REFRESH, {"refresh_token": None}, {"refresh_token": "is required"}),
        (REFRESH, {"refresh_token": {"t": 1}}, {"refresh_token": "must be a string"}),
    ]
    for path, body, fields in cases:
        response = await client.post(path, json=body)
        assert (response.status_code, error_code(response)) == (422, "validation_error"), body
        assert response.json()["error"]["details"]["fields"] == fields, body
