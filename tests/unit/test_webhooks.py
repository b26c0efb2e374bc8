"""Pure webhook pieces: schedule and jitter, signatures checked by ``standardwebhooks``, sealed
secrets, the SSRF address rules and target resolution, settings."""

from __future__ import annotations

import ipaddress
import random
import secrets
import socket
from datetime import datetime, timezone

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from engine.settings import DEFAULT_WEBHOOK_SCHEDULE_S
from engine.settings_from_env import SettingsError, load_settings
from engine.webhooks.addresses import (
    BlockedAddress,
    Target,
    UnresolvableHost,
    UnsafeUrl,
    check_url,
    embedded_ipv4,
    is_blocked,
    is_public,
    parse_host_ip,
    parse_networks,
    resolve_target,
)
from engine.webhooks.attempt import make_client, post_event
from engine.webhooks.schedule import next_delay_s, retry_after_s
from engine.sealing import SecretBox, SecretUnreadable
from engine.webhooks.signing import headers, new_secret, sign
from tests.webhooks.scripted import scripted_server

STRONG_KEY = secrets.token_urlsafe(32)  # a production-grade key, made per run

# --- schedule --------------------------------------------------------------------------------


def test_default_schedule_spans_about_three_days():
    total_h = sum(DEFAULT_WEBHOOK_SCHEDULE_S) / 3600
    assert DEFAULT_WEBHOOK_SCHEDULE_S[:6] == (0, 5, 300, 1800, 7200, 18000)
    assert 66 <= total_h <= 80


@pytest.mark.parametrize("attempts_made", range(len(DEFAULT_WEBHOOK_SCHEDULE_S)))
def test_jitter_stays_within_its_bounds(attempts_made):
    rng = random.Random(attempts_made)
    base = DEFAULT_WEBHOOK_SCHEDULE_S[attempts_made]
    for _ in range(200):
        delay = next_delay_s(attempts_made, DEFAULT_WEBHOOK_SCHEDULE_S, jitter=0.2, rng=rng)
        assert delay is not None and base * 0.8 <= delay <= base * 1.2


def test_jitter_spreads_retries_and_the_schedule_ends():
    rng = random.Random(7)
    delays = {next_delay_s(3, (0, 5, 300, 1800), jitter=0.2, rng=rng) for _ in range(20)}
    assert len(delays) > 10
    assert next_delay_s(4, (0, 5, 300, 1800), jitter=0.2) is None
    assert next_delay_s(1, (0, 5), jitter=0) == 5


def test_retry_after_is_honoured_in_seconds_only_and_capped():
    assert retry_after_s("120", cap_s=60) == 60
    assert retry_after_s("7", cap_s=60) == 7
    assert retry_after_s("Wed, 21 Oct 2026 07:28:00 GMT", cap_s=60) is None
    assert retry_after_s(None, cap_s=60) is None


# --- signatures ------------------------------------------------------------------------------


def test_signatures_verify_with_the_standardwebhooks_package():
    secret = new_secret()
    body = b'{"id":"evt","object":"event","type":"payment.captured","amount":"12.50"}'
    now = int(datetime.now(timezone.utc).timestamp())
    signed = headers([secret], msg_id="msg_abc", timestamp_s=now, body=body)
    assert Webhook(secret).verify(body, signed)["type"] == "payment.captured"
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body + b" ", signed)
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(body, signed)


def test_two_secrets_give_two_signatures_each_verifiable_alone():
    old, new = new_secret(), new_secret()
    body = "{\"note\":\"caf\u00e9\"}".encode()
    now = int(datetime.now(timezone.utc).timestamp())
    signed = headers([new, old], msg_id="msg_1", timestamp_s=now, body=body)
    assert len(signed["webhook-signature"].split(" ")) == 2
    Webhook(old).verify(body, signed)
    Webhook(new).verify(body, signed)


def test_sign_refuses_ids_with_dots_and_foreign_secrets():
    with pytest.raises(ValueError):
        sign(new_secret(), msg_id="a.b", timestamp_s=1, body=b"{}")
    with pytest.raises(ValueError):
        sign("sk_not_a_webhook_secret", msg_id="a", timestamp_s=1, body=b"{}")


# --- sealed secrets --------------------------------------------------------------------------


def test_sealed_secrets_open_only_for_their_endpoint_and_key():
    box = SecretBox(b"k" * 40)
    secret = new_secret()
    sealed = box.seal(secret, context="endpoint-1")
    assert secret not in sealed and secret.removeprefix("whsec_") not in sealed
    assert box.open(sealed, context="endpoint-1") == secret
    with pytest.raises(SecretUnreadable):
        box.open(sealed, context="endpoint-2")
    with pytest.raises(SecretUnreadable):
        SecretBox(b"j" * 40).open(sealed, context="endpoint-1")
    assert "k" * 40 not in repr(box)


# --- SSRF guard ------------------------------------------------------------------------------

NONE = parse_networks(())
LOOPBACK = parse_networks(("127.0.0.0/8", "::1/128"))


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "169.254.1.1", "100.64.0.1",
        "100.100.100.200", "0.0.0.0", "224.0.0.1", "255.255.255.255", "192.0.2.1", "198.18.0.1", "240.0.0.1",
        "::1", "::", "fe80::1", "fc00::1", "fd00:ec2::254", "ff02::1", "::ffff:10.0.0.1", "::ffff:127.0.0.1", "2001:db8::1",
    ],
)
def test_non_public_addresses_are_blocked(address):
    assert is_blocked(ipaddress.ip_address(address), NONE)


@pytest.mark.parametrize("address", ["93.184.215.14", "8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8"])
def test_public_addresses_pass(address):
    assert not is_blocked(ipaddress.ip_address(address), NONE)


@pytest.mark.parametrize(
    "address,carried",
    [
        ("64:ff9b::7f00:1", ["127.0.0.1"]),  # NAT64 well-known prefix: the last 32 bits
        ("64:ff9b::a9fe:a9fe", ["169.254.169.254"]),
        ("64:ff9b:1::a00:1", ["10.0.0.1"]),  # NAT64 local-use prefix, /96 layout
        ("64:ff9b:1:ab::808:808", ["0.0.0.0"]),  # local-use in another layout: cannot be vetted
        ("2002:7f00:1::1", ["127.0.0.1"]),  # 6to4: bits 16-48
        ("2002:c0a8:101:5::1", ["192.168.1.1"]),
        ("::ffff:7f00:1", ["127.0.0.1"]),  # IPv4-mapped
        ("::ffff:0:a00:1", ["10.0.0.1"]),  # IPv4-translated
        ("::127.0.0.1", ["127.0.0.1"]),  # IPv4-compatible
        ("::10.0.0.1", ["10.0.0.1"]),
        ("::a9fe:a9fe", ["169.254.169.254"]),
        # Teredo: server in bits 32-64, client obfuscated (XOR 0xffffffff) in the last 32 bits
        ("2001:0:7f00:1::f7f7:f7f7", ["127.0.0.1", "8.8.8.8"]),
        ("2001:0:808:808::80ff:fffe", ["8.8.8.8", "127.0.0.1"]),
        ("2001:0:808:808::f5ff:fffe", ["8.8.8.8", "10.0.0.1"]),
    ],
)
def test_transition_addresses_are_judged_by_the_internal_ipv4_they_carry(address, carried):
    ip = ipaddress.ip_address(address)
    assert [str(v4) for v4 in embedded_ipv4(ip)] == carried
    assert is_blocked(ip, NONE)
    assert not is_public(ip)


@pytest.mark.parametrize(
    "address",
    ["64:ff9b::808:808", "64:ff9b:1::808:808", "2002:808:808::1", "::ffff:8.8.8.8", "::ffff:0:808:808",
     "::8.8.8.8", "2001:0:808:808::f7f7:f7f7"],
)
def test_transition_addresses_carrying_only_public_ipv4_pass(address):
    assert not is_blocked(ipaddress.ip_address(address), NONE)


def test_transition_addresses_follow_the_allowed_networks_and_never_reach_metadata():
    assert not is_blocked(ipaddress.ip_address("64:ff9b::7f00:1"), LOOPBACK)
    assert is_blocked(ipaddress.ip_address("64:ff9b::a00:1"), LOOPBACK)
    everything = parse_networks(("0.0.0.0/0", "::/0"))
    for metadata in ("64:ff9b::a9fe:a9fe", "2002:a9fe:a9fe::1", "::169.254.169.254", "2001:0:a9fe:a9fe::f7f7:f7f7"):
        assert is_blocked(ipaddress.ip_address(metadata), everything), metadata


@pytest.mark.parametrize(
    "host,address",
    [
        ("2130706433", "127.0.0.1"), ("0x7f000001", "127.0.0.1"), ("0x7f.1", "127.0.0.1"), ("0177.0.0.1", "127.0.0.1"),
        ("127.1", "127.0.0.1"), ("127.0.1", "127.0.0.1"), ("0", "0.0.0.0"), ("0x7f.0.0.0x1", "127.0.0.1"),
        ("017700000001", "127.0.0.1"), ("10.0x10.1", "10.16.0.1"), ("167772161", "10.0.0.1"), ("127.0.0.1.", "127.0.0.1"),
        ("8.8.8.8", "8.8.8.8"), ("134744072", "8.8.8.8"), ("::1", "::1"),
    ],
)
def test_numeric_hosts_are_read_as_inet_aton_reads_them(host, address):
    assert parse_host_ip(host) == ipaddress.ip_address(address)


@pytest.mark.parametrize("host", ["example.com", "hooks.0x7f.example", "127.0.0.1.example", "08.example"])
def test_host_names_are_not_ip_literals(host):
    assert parse_host_ip(host) is None


@pytest.mark.parametrize("host", ["256.0.0.1", "1.2.3.4.5", "1.2.3.08", "1..2", "4294967296", "1.16777216", "0x1g.0.0.1"])
def test_malformed_numeric_hosts_are_refused(host):
    with pytest.raises(UnsafeUrl):
        check_url(f"http://{host}/", allow_http=True)


@pytest.mark.parametrize(
    "url",
    ["http://2130706433/", "http://0x7f.1/", "http://0177.0.0.1/", "http://127.1/", "http://0/", "http://[64:ff9b::7f00:1]/",
     "http://[2002:7f00:1::1]/", "http://[::127.0.0.1]/", "http://[2001:0:808:808::80ff:fffe]/"],
)
async def test_numeric_and_transition_hosts_are_refused_at_delivery_without_resolving(url):
    async def no_dns(host: str, port: int) -> list[str]:
        raise AssertionError("an IP literal must not be resolved")

    with pytest.raises(BlockedAddress):
        await resolve_target(url, allowed_networks=NONE, allow_http=True, resolver=no_dns)


async def test_refusals_do_not_name_the_addresses_a_host_resolved_to():
    with pytest.raises(BlockedAddress) as refused:
        await resolve_target(
            "https://internal.example/hook", allowed_networks=NONE, allow_http=False,
            resolver=_resolver({"internal.example": ["10.0.0.5", "fd00::7"]}),
        )
    assert "10.0.0.5" not in str(refused.value) and "fd00" not in str(refused.value)
    assert "internal.example" in str(refused.value)
    assert refused.value.addresses == ("10.0.0.5", "fd00::7")  # for the operator's log


async def test_only_globally_routable_targets_are_public():
    public = await resolve_target("https://shop.example/", allowed_networks=NONE, allow_http=False,
                                  resolver=_resolver({"shop.example": ["93.184.215.14"]}))
    allowed = await resolve_target("http://127.0.0.1:9/", allowed_networks=LOOPBACK, allow_http=True)
    assert public.public and not allowed.public


def _target(public: bool, base_url: str) -> Target:
    """A vetted target whose address is public or not; the connection goes to ``base_url`` (loopback)."""
    ip = "93.184.215.14" if public else "10.0.0.5"
    return Target(connect_url=f"{base_url}/hook", host_header="shop.example", sni_hostname=None, ip=ip, public=public)


@pytest.mark.parametrize("public", [True, False])
async def test_the_response_of_a_target_that_is_not_public_is_reduced_to_its_status(public):
    async with make_client(connect_timeout_s=1, total_timeout_s=2, max_connections=2) as client:
        async with scripted_server(200, b"internal secrets") as server:
            ok = await post_event(client, _target(public, server.base_url), headers={}, body=b"{}", total_timeout_s=2,
                                  body_bytes=1024)
            assert server.seen[0][1]["host"] == "shop.example"
        async with scripted_server(302, b"", {"location": "http://admin.internal/x"}) as server:
            moved = await post_event(client, _target(public, server.base_url), headers={}, body=b"{}", total_timeout_s=2,
                                     body_bytes=1024)
    assert ok.succeeded and ok.status_code == 200 and moved.status_code == 302
    if public:
        assert ok.response_body == "internal secrets" and "admin.internal" in moved.error
    else:
        assert ok.response_body is None and "admin.internal" not in moved.error


async def test_transport_errors_do_not_name_the_vetted_address():
    with socket.socket() as closed:  # a port nobody listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    target = Target(connect_url=f"http://127.0.0.1:{port}/hook", host_header="shop.example", sni_hostname=None,
                    ip="127.0.0.1", public=False)
    async with make_client(connect_timeout_s=1, total_timeout_s=2, max_connections=2) as client:
        result = await post_event(client, target, headers={}, body=b"{}", total_timeout_s=2, body_bytes=1024)
    assert not result.succeeded and result.error.startswith("ClientConnectorError")
    assert "127.0.0.1" not in result.error and "(address)" in result.error


def test_allowed_networks_open_loopback_but_never_metadata():
    assert not is_blocked(ipaddress.ip_address("127.0.0.1"), LOOPBACK)
    assert not is_blocked(ipaddress.ip_address("::1"), LOOPBACK)
    assert is_blocked(ipaddress.ip_address("10.0.0.1"), LOOPBACK)
    assert is_blocked(ipaddress.ip_address("169.254.169.254"), parse_networks(("169.254.0.0/16",)))


@pytest.mark.parametrize(
    "url,allow_http",
    [("http://example.com/x", False), ("ftp://example.com", True), ("https://u:p@example.com", False),
     ("https:///nohost", False), ("https://example.com/#frag", False), ("https://example.com:0/", False),
     ("https://example.com/" + "a" * 2100, False)],
)
def test_url_shape_is_checked(url, allow_http):
    with pytest.raises(UnsafeUrl):
        check_url(url, allow_http=allow_http)


def _resolver(answers: dict[str, list[str]]):
    async def resolve(host: str, port: int) -> list[str]:
        if host not in answers:
            raise OSError("no such host")
        return answers[host]

    return resolve


async def test_a_name_resolving_to_a_private_address_is_refused():
    with pytest.raises(BlockedAddress):
        await resolve_target(
            "https://rebind.example/hook", allowed_networks=NONE, allow_http=False,
            resolver=_resolver({"rebind.example": ["10.0.0.5", "169.254.169.254"]}),
        )
    with pytest.raises(UnresolvableHost):
        await resolve_target("https://nxdomain.example/", allowed_networks=NONE, allow_http=False, resolver=_resolver({}))


async def test_the_vetted_address_is_connected_to_with_the_name_kept_for_host_and_tls():
    target = await resolve_target(
        "https://shop.example:8443/hooks?x=1", allowed_networks=NONE, allow_http=False,
        resolver=_resolver({"shop.example": ["10.0.0.5", "93.184.215.14"]}),
    )
    assert target.ip == "93.184.215.14"
    assert target.connect_url == "https://93.184.215.14:8443/hooks?x=1"
    assert target.host_header == "shop.example:8443" and target.sni_hostname == "shop.example"
    v6 = await resolve_target(
        "http://v6.example/", allowed_networks=NONE, allow_http=True, resolver=_resolver({"v6.example": ["2606:4700::1"]})
    )
    assert v6.connect_url == "http://[2606:4700::1]/" and v6.sni_hostname is None


async def test_localhost_is_refused_by_the_real_resolver_unless_loopback_is_allowed():
    with pytest.raises(BlockedAddress):
        await resolve_target("http://localhost:9/", allowed_networks=NONE, allow_http=True)
    target = await resolve_target("http://localhost:9/", allowed_networks=LOOPBACK, allow_http=True)
    assert ipaddress.ip_address(target.ip).is_loopback


# --- settings --------------------------------------------------------------------------------


def test_webhook_settings_defaults_by_environment():
    development = load_settings({}).webhooks
    assert development.allow_http and development.allowed_networks == ()  # loopback is an explicit opt-in
    production = load_settings({"EASYPAY_ENV": "production", "EASYPAY_SECRET_KEY": STRONG_KEY}).webhooks
    assert not production.allow_http and production.allowed_networks == ()
    custom = load_settings({"WEBHOOK_RETRY_SCHEDULE_S": "0,1,2.5", "WEBHOOK_ALLOWED_NETWORKS": "10.0.0.0/8"}).webhooks
    assert custom.retry_schedule_s == (0, 1, 2.5) and custom.allowed_networks == ("10.0.0.0/8",)


@pytest.mark.parametrize(
    "env,variable",
    [
        ({"WEBHOOK_RETRY_SCHEDULE_S": "0,soon"}, "WEBHOOK_RETRY_SCHEDULE_S"),
        ({"WEBHOOK_RETRY_SCHEDULE_S": "-1"}, "WEBHOOK_RETRY_SCHEDULE_S"),
        ({"WEBHOOK_ALLOWED_NETWORKS": "10.0.0.0/33"}, "WEBHOOK_ALLOWED_NETWORKS"),
        ({"WEBHOOK_ALLOW_HTTP": "maybe"}, "WEBHOOK_ALLOW_HTTP"),
        ({"WEBHOOK_ALLOW_HTTP": "true", "EASYPAY_ENV": "production", "EASYPAY_SECRET_KEY": STRONG_KEY}, "WEBHOOK_ALLOW_HTTP"),
        ({"WEBHOOK_ENDPOINT_MAX_IN_FLIGHT": "0"}, "WEBHOOK_ENDPOINT_MAX_IN_FLIGHT"),
        ({"WEBHOOK_TIMEOUT_S": "x"}, "WEBHOOK_TIMEOUT_S"),
    ],
)
def test_bad_webhook_settings_name_the_variable(env, variable):
    with pytest.raises(SettingsError, match=variable):
        load_settings(env)


def test_the_keyring_signs_with_the_current_secret_and_the_previous_during_its_grace():
    from datetime import timedelta
    from types import SimpleNamespace

    from engine.webhooks.keyring import Keyring
    from engine.webhooks.signing import headers_for_keys, key_of

    box = SecretBox(STRONG_KEY.encode())
    endpoint_id = "3f1c0e4a-0000-4000-8000-000000000001"
    old, new = new_secret(), new_secret()
    now = datetime.now(timezone.utc)
    row = SimpleNamespace(endpoint_id=endpoint_id, secret_sealed=box.seal(new, context=endpoint_id),
                          previous_secret_sealed=box.seal(old, context=endpoint_id),
                          previous_secret_expires_at=now + timedelta(hours=1))
    keyring = Keyring(box)
    assert keyring.signing_keys(row, now=now) == [key_of(new), key_of(old)]
    assert keyring.signing_keys(row, now=now + timedelta(hours=2)) == [key_of(new)]  # the grace is over
    rotated = new_secret()
    row.secret_sealed = box.seal(rotated, context=endpoint_id)  # a rotation seals a new secret: never served stale
    assert keyring.signing_keys(row, now=now + timedelta(hours=2)) == [key_of(rotated)]
    body = b'{"id":"evt_1"}'
    signed = headers_for_keys(keyring.signing_keys(row, now=now), msg_id="msg_1", timestamp_s=int(now.timestamp()), body=body)
    Webhook(rotated).verify(body, signed)
    Webhook(old).verify(body, signed)
    assert signed == headers([rotated, old], msg_id="msg_1", timestamp_s=int(now.timestamp()), body=body)
