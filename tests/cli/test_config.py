"""The configuration object: file, environment, secret files, and clear errors."""

from pathlib import Path

import pytest

from payivr.config import ConfigError, load_config


def test_defaults_load_without_a_file() -> None:
    config = load_config(None, {})
    assert config.ari.url == "http://127.0.0.1:8088"
    assert config.ari.app == "payivr"
    assert config.database.url is None
    assert config.flow.flow_config().max_attempts == 3


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    path = tmp_path / "payivr.toml"
    path.write_text('[ari]\nurl = "http://pbx:8088"\npassword = "file"\n[flow]\nmax_attempts = 5\n')
    config = load_config(path, {"PAYIVR_ARI_PASSWORD": "env", "PAYIVR_FLOW_ASK_POSTAL_CODE": "no"})
    assert config.ari.url == "http://pbx:8088"
    assert config.ari.password == "env"
    assert config.flow.max_attempts == 5
    assert config.flow.ask_postal_code is False


def test_secret_from_a_file(tmp_path: Path) -> None:
    secret = tmp_path / "ari-password"
    secret.write_text("s3cret\n")
    config = load_config(None, {"PAYIVR_ARI_PASSWORD_FILE": str(secret)})
    assert config.ari.password == "s3cret"


def test_lists_from_the_environment() -> None:
    config = load_config(None, {"PAYIVR_FLOW_ACCEPTED_BRANDS": "visa, mastercard"})
    assert config.flow.accepted_brands == ("visa", "mastercard")


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        ({"PAYIVR_AMI_PORT": "five"}, "ami.port (PAYIVR_AMI_PORT): expected a whole number"),
        ({"PAYIVR_LOG_JSON": "maybe"}, "log.json (PAYIVR_LOG_JSON): expected true or false"),
    ],
)
def test_wrong_types_name_the_setting(environ: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_config(None, environ)
    assert named in str(raised.value)


def test_unknown_settings_and_sections_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "payivr.toml"
    path.write_text("[ari]\nurl2 = 1\n[nope]\nx = 1\n")
    with pytest.raises(ConfigError) as raised:
        load_config(path, {})
    assert "ari.url2: unknown setting" in str(raised.value)
    assert "[nope]: unknown section" in str(raised.value)


def test_invalid_toml_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "payivr.toml"
    path.write_text("[ari\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(path, {})


def test_validation_lists_every_problem_with_its_setting() -> None:
    config = load_config(
        None,
        {
            "PAYIVR_ARI_URL": "ftp://pbx",
            "PAYIVR_GATEWAY_URL": "http://gateway.example",
            "PAYIVR_CALLS_PRIVACY_MODE": "shout",
            "PAYIVR_FLOW_ACCEPTED_BRANDS": "visa,diamond",
            "PAYIVR_CONSOLE_LISTEN": "8080",
            "PAYIVR_CONSOLE_METRICS_TOKEN": "short",
            "PAYIVR_CALLS_RECONCILE_INTERVAL": "0",
        },
    )
    with pytest.raises(ConfigError) as raised:
        config.validate()
    message = str(raised.value)
    for expected in (
        "ari.url (PAYIVR_ARI_URL): must be a URL starting with http:// or https://",
        "ari.password (PAYIVR_ARI_PASSWORD): is required",
        "ami.secret (PAYIVR_AMI_SECRET): is required",
        "gateway.url (PAYIVR_GATEWAY_URL): must be a URL starting with https://",
        "calls.privacy_mode: 'shout'",
        "flow.accepted_brands: unknown ['diamond']",
        "console.listen (PAYIVR_CONSOLE_LISTEN): '8080' is not HOST:PORT",
        "console.metrics_token (PAYIVR_CONSOLE_METRICS_TOKEN): use at least 24 characters",
        "calls.reconcile_interval: must be a positive number of seconds",
    ):
        assert expected in message


def test_credentials_in_a_url_are_not_echoed() -> None:
    config = load_config(None, {"PAYIVR_DATABASE_URL": "mysql://user:hunter2@db/payivr"})
    with pytest.raises(ConfigError) as raised:
        config.validate(("database",))
    assert "hunter2" not in str(raised.value)


def test_the_stripe_gateway_needs_a_secret_key_not_the_connector_settings() -> None:
    config = load_config(None, {"PAYIVR_GATEWAY_KIND": "stripe"})
    with pytest.raises(ConfigError) as raised:
        config.validate(("gateway",))
    assert "gateway.stripe_secret_key (PAYIVR_GATEWAY_STRIPE_SECRET_KEY): is required" in str(
        raised.value
    )
    assert "gateway.url" not in str(raised.value)
    publishable = load_config(
        None, {"PAYIVR_GATEWAY_KIND": "stripe", "PAYIVR_GATEWAY_STRIPE_SECRET_KEY": "pk_test_123"}
    )
    with pytest.raises(ConfigError, match="stripe_secret_key"):
        publishable.validate(("gateway",))
    good = load_config(
        None, {"PAYIVR_GATEWAY_KIND": "stripe", "PAYIVR_GATEWAY_STRIPE_SECRET_KEY": "sk_test_123"}
    )
    good.validate(("gateway",))


def test_an_unknown_gateway_kind_is_named() -> None:
    config = load_config(None, {"PAYIVR_GATEWAY_KIND": "paypal"})
    with pytest.raises(ConfigError, match=r"gateway.kind \(PAYIVR_GATEWAY_KIND\): 'paypal'"):
        config.validate(("gateway",))


def test_sms_settings_are_checked_only_when_enabled() -> None:
    off = load_config(None, {"PAYIVR_SMS_PROVIDER": "http"})
    off.validate(("sms",))
    on = load_config(None, {"PAYIVR_SMS_ENABLED": "yes", "PAYIVR_SMS_PROVIDER": "http"})
    with pytest.raises(ConfigError) as raised:
        on.validate(("sms",))
    assert "sms.token (the provider's API token) is required" in str(raised.value)
    assert on.sms.reminder_window_days == 7


def test_cleartext_urls_to_other_hosts_are_refused_unless_allowed() -> None:
    """ARI, CRM and SMS provider URLs: http:// only to this machine, or when allowed."""
    cleartext = {
        "PAYIVR_ARI_URL": "http://pbx.example:8088",
        "PAYIVR_CRM_WEBHOOK_URL": "http://crm.example/activities",
        "PAYIVR_CRM_WEBHOOK_SECRET": "whsec_x",
        "PAYIVR_SMS_ENABLED": "true",
        "PAYIVR_SMS_PROVIDER": "http",
        "PAYIVR_SMS_URL": "http://10.0.0.9/messages",
    }
    with pytest.raises(ConfigError) as raised:
        load_config(None, cleartext).validate()
    message = str(raised.value)
    for section, name, host in (
        ("ari", "url", "pbx.example"),
        ("crm", "webhook_url", "crm.example"),
        ("sms", "url", "10.0.0.9"),
    ):
        assert (
            f"{section}.{name} (PAYIVR_{section.upper()}_{name.upper()}): http:// to {host}"
            f" would travel in cleartext; use https://, or set {section}.allow_http = true"
        ) in message
    allowed = {**cleartext, **{f"PAYIVR_{s}_ALLOW_HTTP": "true" for s in ("ARI", "CRM", "SMS")}}
    with pytest.raises(ConfigError) as raised:
        load_config(None, allowed).validate()
    assert "cleartext" not in str(raised.value)
    loopback = {"PAYIVR_ARI_URL": "http://[::1]:8088", "PAYIVR_CRM_WEBHOOK_URL": "http://localhost/a"}
    with pytest.raises(ConfigError) as raised:
        load_config(None, {**cleartext, **loopback, "PAYIVR_SMS_ENABLED": "false"}).validate()
    assert "cleartext" not in str(raised.value)
