"""Attacks on the console's inputs (issue 13): each is performed over HTTP and fails."""

from __future__ import annotations

from _console_helpers import ALICE, Console

DEEP = b"[" * 5_000 + b"]" * 5_000


async def test_attack_deeply_nested_json_is_a_clear_400_everywhere(console: Console) -> None:
    """Issue 13.8: a JSON body nested 5,000 deep made json.loads raise RecursionError, a
    500 with a traceback. Every JSON body of the console is refused as bad input."""
    signed_in = await console.signed_in(ALICE)
    async with console.client() as anonymous, signed_in:
        for client, path in (
            (anonymous, "/api/v1/login"),
            (signed_in, "/api/v1/payments"),
        ):
            for body in (DEEP, b'{"item": ' + b'{"a": ' * 40 + b"1" + b"}" * 41):
                response = await client.post(
                    path,
                    data=body,
                    headers={"Content-Type": "application/json", "X-CSRF-Token": client.csrf},
                )
                assert response.status == 400, (path, await response.text())
                error = (await response.json())["error"]
                assert error["code"] == "bad_json" and "nested more than" in error["message"]
