"""One rule per test, named as the behaviour it pins down (docs/app-model.md, issue 2 points 2-3)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any, Callable

import pytest

from ledger import errors, rules
from ledger.application import Ledger
from ledger.errors import (
    ApiNotFound,
    AppCodeNotFound,
    AppIsDeleted,
    AppNotFound,
    Conflict,
    DefaultKeyPairUndeletable,
    DuplicateAppCode,
    DuplicateAppKey,
    GrantNotFound,
    InvalidInput,
    KeyPairLimitReached,
    KeyPairNotFound,
    LedgerError,
    NotFound,
    NotPermitted,
)

NOW = datetime(2030, 1, 1, tzinfo=timezone.utc)
LATER = NOW + timedelta(days=30)
SECRET = "S3cret!S3cret!S3cret!xyz"
CODE = "Code0123456789abcdefXYZ"


@pytest.fixture
def L(memory_ledger: Ledger) -> Ledger:
    return memory_ledger


def rejected(L: Ledger, exc: type[LedgerError], fn: Callable[[], Any]) -> LedgerError:
    """Assert the command fails with exactly ``exc`` and writes nothing."""
    before = L.recorder.max_notification_id()
    with pytest.raises(LedgerError) as info:
        fn()
    assert type(info.value) is exc, info.value
    assert L.recorder.max_notification_id() == before
    return info.value


def new_app(L: Ledger, owner: str = "consumer", name: str = "MyApp", **kw: Any) -> str:
    return L.create_app(owner, name, at=NOW, **kw).ids["app_id"]


def new_api(L: Ledger, owner: str = "provider") -> str:
    return L.register_api(owner, "weather", at=NOW).ids["api_id"]


# -- attribute limits ------------------------------------------------------------------


@pytest.mark.parametrize("name", ["Abcd", "A" + "b" * 25, "a_1_", "Z999"])
def test_app_name_of_4_to_26_letters_digits_underscore_starting_with_letter_is_accepted(L: Ledger, name: str) -> None:
    assert L.get_app(new_app(L, name=name)).name == name


@pytest.mark.parametrize("name", ["Abc", "A" + "b" * 26, "1abc", "_abc", "ab-cd", "abc d", "", "Abcé"])
def test_app_name_outside_the_rule_is_invalid(L: Ledger, name: str) -> None:
    rejected(L, InvalidInput, lambda: new_app(L, name=name))


def test_description_of_180_characters_is_accepted_and_181_is_not(L: Ledger) -> None:
    new_app(L, description="d" * 180)
    rejected(L, InvalidInput, lambda: new_app(L, description="d" * 181))


def test_twenty_tags_are_accepted_and_twenty_one_are_not(L: Ledger) -> None:
    new_app(L, tags={f"k{i}": "v" for i in range(20)})
    rejected(L, InvalidInput, lambda: new_app(L, tags={f"k{i}": "v" for i in range(21)}))


def test_tag_key_is_1_to_128_characters_and_value_0_to_128(L: Ledger) -> None:
    new_app(L, tags={"k" * 128: "v" * 128, "x": ""})
    rejected(L, InvalidInput, lambda: new_app(L, tags={"": "v"}))
    rejected(L, InvalidInput, lambda: new_app(L, tags={"k" * 129: "v"}))
    rejected(L, InvalidInput, lambda: new_app(L, tags={"k": "v" * 129}))


def test_extension_is_at_most_1024_bytes_of_utf8_not_characters(L: Ledger) -> None:
    new_app(L, extension="x" * 1024)
    new_app(L, extension="é" * 512)  # 1,024 bytes
    rejected(L, InvalidInput, lambda: new_app(L, extension="x" * 1025))
    rejected(L, InvalidInput, lambda: new_app(L, extension="é" * 513))  # 513 chars, 1,026 bytes


@pytest.mark.parametrize("key", ["abcdefgh", "k" * 64, "A-b_C-d_0"])
def test_custom_appkey_of_8_to_64_allowed_characters_is_accepted(L: Ledger, key: str) -> None:
    assert key in L.get_app(new_app(L, app_key=key)).key_pairs


@pytest.mark.parametrize("key", ["abcdefg", "k" * 65, "abcd efgh", "abcd.efgh", "abcdéfgh"])
def test_custom_appkey_outside_the_rule_is_invalid(L: Ledger, key: str) -> None:
    rejected(L, InvalidInput, lambda: new_app(L, app_key=key))


@pytest.mark.parametrize("secret", ["!" * 16, "~" * 128, "aZ9!#$%&'()*+,-./:;<=>?@[]^_`{|}"])
def test_custom_appsecret_of_16_to_128_printable_ascii_is_accepted(L: Ledger, secret: str) -> None:
    app_id = new_app(L, app_key="customkey", app_secret=secret)
    assert L.open_secret(L.get_app(app_id), "customkey") == secret


@pytest.mark.parametrize("secret", ["a" * 15, "a" * 129, "abcdefgh ijklmnop", "abcdefghijklmnop\x7f", "abcdefghijklmnopé", "abcdefghijklmno\t"])
def test_custom_appsecret_outside_the_rule_is_invalid(L: Ledger, secret: str) -> None:
    rejected(L, InvalidInput, lambda: new_app(L, app_secret=secret))


@pytest.mark.parametrize("code", ["a" * 16, "Z" * 64, "abcDEF0123456789"])
def test_custom_appcode_of_16_to_64_alphanumerics_is_accepted(L: Ledger, code: str) -> None:
    app_id = new_app(L, app_code=code)
    assert str(L.app_id_for_code(code)) == app_id


@pytest.mark.parametrize("code", ["a" * 15, "a" * 65, "abcdefgh-jklmnopq", "abcdefgh_jklmnopq"])
def test_custom_appcode_outside_the_rule_is_invalid(L: Ledger, code: str) -> None:
    rejected(L, InvalidInput, lambda: new_app(L, app_code=code))


def test_generated_secrets_carry_at_least_192_bits() -> None:
    from ledger import crypto

    assert len(crypto.generate_app_secret()) * 6 >= 192
    assert len({crypto.generate_app_secret() for _ in range(100)}) == 100


# -- key pairs ---------------------------------------------------------------------------


def test_default_key_pair_cannot_be_deleted_but_an_added_one_can(L: Ledger) -> None:
    app_id = new_app(L, app_key="defaultkey")
    L.add_key_pair(app_id, "consumer", app_key="addedkey1")
    rejected(L, DefaultKeyPairUndeletable, lambda: L.delete_key_pair(app_id, "defaultkey", "consumer"))
    L.delete_key_pair(app_id, "addedkey1", "consumer")
    assert list(L.get_app(app_id).key_pairs) == ["defaultkey"]


def test_an_app_holds_at_most_ten_key_pairs(L: Ledger) -> None:
    app_id = new_app(L)
    for _ in range(9):
        L.add_key_pair(app_id, "consumer")
    assert len(L.get_app(app_id).key_pairs) == 10
    rejected(L, KeyPairLimitReached, lambda: L.add_key_pair(app_id, "consumer"))


def test_appkeys_are_unique_across_accounts(L: Ledger) -> None:
    new_app(L, owner="alice", app_key="sharedkey")
    other = new_app(L, owner="bob")
    rejected(L, DuplicateAppKey, lambda: new_app(L, owner="bob", app_key="sharedkey"))
    rejected(L, DuplicateAppKey, lambda: L.add_key_pair(other, "bob", app_key="sharedkey"))


def test_appkey_uniqueness_ignores_case(L: Ledger) -> None:
    new_app(L, owner="alice", app_key="MixedCaseKey")
    rejected(L, DuplicateAppKey, lambda: new_app(L, owner="bob", app_key="mixedcasekey"))
    rejected(L, DuplicateAppKey, lambda: new_app(L, owner="bob", app_key="MIXEDCASEKEY"))


def test_appcodes_are_unique_across_accounts(L: Ledger) -> None:
    new_app(L, owner="alice", app_code=CODE)
    other = new_app(L, owner="bob")
    rejected(L, DuplicateAppCode, lambda: new_app(L, owner="bob", app_code=CODE))
    rejected(L, DuplicateAppCode, lambda: L.add_app_code(other, "bob", code=CODE))


def test_a_used_appkey_is_never_reusable_even_after_its_pair_or_app_is_deleted(L: Ledger) -> None:
    # Decision: an AppKey identifies a caller in old logs; reusing it would blur history.
    app_id = new_app(L, app_key="firstkey")
    L.add_key_pair(app_id, "consumer", app_key="secondkey")
    L.delete_key_pair(app_id, "secondkey", "consumer")
    rejected(L, DuplicateAppKey, lambda: L.add_key_pair(app_id, "consumer", app_key="secondkey"))
    L.reset_key_pair("firstkey", "consumer", new_app_key="thirdkey")
    rejected(L, DuplicateAppKey, lambda: new_app(L, owner="other", app_key="firstkey"))
    L.delete_app(app_id, "consumer")
    rejected(L, DuplicateAppKey, lambda: new_app(L, owner="other", app_key="thirdkey"))


def test_a_used_appcode_is_never_reusable_even_after_it_is_deleted(L: Ledger) -> None:
    app_id = new_app(L, app_code=CODE)
    L.add_app_code(app_id, "consumer", code="Other0123456789abc")
    L.delete_app_code(app_id, CODE, "consumer")
    rejected(L, DuplicateAppCode, lambda: L.add_app_code(app_id, "consumer", code=CODE))
    L.reset_app_code("Other0123456789abc", "consumer", new_code="Third0123456789abc")
    rejected(L, DuplicateAppCode, lambda: new_app(L, owner="x", app_code="Other0123456789abc"))


def test_reset_gives_a_new_secret_and_the_old_one_stops(L: Ledger) -> None:
    app_id = new_app(L, app_key="resetme12", app_secret=SECRET)
    receipt = L.reset_key_pair("resetme12", "consumer")
    secret = L.open_secret(L.get_app(app_id), "resetme12")
    assert secret == receipt.revealed["app_secret"] != SECRET


def test_reset_of_an_unknown_appkey_is_not_found(L: Ledger) -> None:
    new_app(L, app_key="knownkey1")
    rejected(L, KeyPairNotFound, lambda: L.reset_key_pair("unknownkey", "consumer"))
    # The claim is case-insensitive but lookups are exact.
    rejected(L, KeyPairNotFound, lambda: L.reset_key_pair("KNOWNKEY1", "consumer"))


# -- who may act -------------------------------------------------------------------------


def test_only_the_owner_changes_the_app_and_its_credentials(L: Ledger) -> None:
    app_id = new_app(L, app_key="ownedkey1", app_code=CODE)
    L.add_key_pair(app_id, "consumer", app_key="ownedkey2")
    for fn in (
        lambda: L.modify_app(app_id, "mallory", name="Stolen"),
        lambda: L.disable_app(app_id, "mallory"),
        lambda: L.enable_app(app_id, "mallory"),
        lambda: L.delete_app(app_id, "mallory"),
        lambda: L.add_key_pair(app_id, "mallory"),
        lambda: L.delete_key_pair(app_id, "ownedkey2", "mallory"),
        lambda: L.add_app_code(app_id, "mallory"),
        lambda: L.delete_app_code(app_id, CODE, "mallory"),
    ):
        rejected(L, NotPermitted, fn)
    # A credential named by its value, not by its app: another account's answers exactly as an
    # unknown one (issue 14.3, the codes/reset oracle: 403 for a live code, 404 otherwise).
    theirs = rejected(L, AppCodeNotFound, lambda: L.reset_app_code(CODE, "mallory"))
    unknown = rejected(L, AppCodeNotFound, lambda: L.reset_app_code("Code0123456789abcdefXYQ", "mallory"))
    assert theirs.to_dict() == unknown.to_dict()
    theirs = rejected(L, KeyPairNotFound, lambda: L.reset_key_pair("ownedkey1", "mallory"))
    unknown = rejected(L, KeyPairNotFound, lambda: L.reset_key_pair("ownedkey9", "mallory"))
    assert theirs.to_dict() == {**unknown.to_dict(), "message": unknown.message.replace("ownedkey9", "ownedkey1")}


def test_only_the_api_owner_grants(L: Ledger) -> None:
    api_id, app_id = new_api(L), new_app(L)
    rejected(L, NotPermitted, lambda: L.grant("consumer", app_id, api_id, "RELEASE", at=NOW))
    rejected(L, NotPermitted, lambda: L.grant("mallory", app_id, api_id, "RELEASE", at=NOW))
    L.grant("provider", app_id, api_id, "RELEASE", at=NOW)


def test_the_api_owner_revokes_as_provider(L: Ledger) -> None:
    api_id, app_id = new_api(L), new_app(L)
    L.grant("provider", app_id, api_id, "TEST", at=NOW)
    assert L.revoke("provider", app_id, api_id, "TEST").ids["role"] == "provider"


def test_the_app_owner_revokes_as_consumer(L: Ledger) -> None:
    api_id, app_id = new_api(L), new_app(L)
    L.grant("provider", app_id, api_id, "TEST", at=NOW)
    assert L.revoke("consumer", app_id, api_id, "TEST").ids["role"] == "consumer"
    assert L.get_app(app_id).grants == {}


def test_a_third_account_cannot_revoke(L: Ledger) -> None:
    api_id, app_id = new_api(L), new_app(L)
    L.grant("provider", app_id, api_id, "TEST", at=NOW)
    rejected(L, NotPermitted, lambda: L.revoke("mallory", app_id, api_id, "TEST"))


def test_revoking_an_absent_grant_is_not_found(L: Ledger) -> None:
    api_id, app_id = new_api(L), new_app(L)
    L.grant("provider", app_id, api_id, "TEST", at=NOW)
    rejected(L, GrantNotFound, lambda: L.revoke("provider", app_id, api_id, "PRE"))


def test_nothing_can_be_done_to_a_deleted_app(L: Ledger) -> None:
    api_id, app_id = new_api(L), new_app(L, app_key="deadkey12", app_code=CODE)
    L.add_key_pair(app_id, "consumer", app_key="deadkey34")
    L.grant("provider", app_id, api_id, "PRE", at=NOW)
    L.delete_app(app_id, "consumer")
    for fn in (
        lambda: L.modify_app(app_id, "consumer", name="Zombie"),
        lambda: L.disable_app(app_id, "consumer"),
        lambda: L.enable_app(app_id, "consumer"),
        lambda: L.delete_app(app_id, "consumer"),
        lambda: L.add_key_pair(app_id, "consumer"),
        lambda: L.delete_key_pair(app_id, "deadkey34", "consumer"),
        lambda: L.reset_key_pair("deadkey12", "consumer"),
        lambda: L.add_app_code(app_id, "consumer"),
        lambda: L.delete_app_code(app_id, CODE, "consumer"),
        lambda: L.reset_app_code(CODE, "consumer"),
        lambda: L.grant("provider", app_id, api_id, "RELEASE", at=NOW),
        lambda: L.revoke("provider", app_id, api_id, "PRE"),
    ):
        rejected(L, AppIsDeleted, fn)


# -- grants ------------------------------------------------------------------------------


def test_granting_again_changes_the_end_time(L: Ledger) -> None:
    api_id, app_id = new_api(L), new_app(L)
    L.grant("provider", app_id, api_id, "RELEASE", until=LATER, at=NOW)
    shorter = NOW + timedelta(days=1)
    r = L.grant("provider", app_id, api_id, "RELEASE", until=shorter, at=NOW)
    assert r.events == 1
    assert L.get_app(app_id).grants[(api_id, "RELEASE")].until == shorter
    last = L.recorder.select_notifications(start=r.position, limit=1)[0]
    assert last.topic == "authledger:GrantEndChanged"
    L.grant("provider", app_id, api_id, "RELEASE", until=None, at=NOW)
    assert L.get_app(app_id).grants[(api_id, "RELEASE")].until is None


def test_granting_again_with_the_same_end_time_writes_nothing(L: Ledger) -> None:
    api_id, app_id = new_api(L), new_app(L)
    L.grant("provider", app_id, api_id, "RELEASE", until=LATER, at=NOW)
    before = L.recorder.max_notification_id()
    r = L.grant("provider", app_id, api_id, "RELEASE", until=LATER.astimezone(timezone(timedelta(hours=8))), at=NOW)
    assert r.events == 0 and L.recorder.max_notification_id() == before


def test_bulk_grant_gives_one_api_to_up_to_100_apps_in_one_transaction(L: Ledger) -> None:
    api_id = new_api(L)
    apps = [new_app(L) for _ in range(100)]
    r = L.grant("provider", apps, api_id, "RELEASE", at=NOW)
    assert r.events == 100 and len(r.ids["granted"]) == 100
    one_more = apps + [new_app(L)]
    rejected(L, InvalidInput, lambda: L.grant("provider", one_more, api_id, "PRE", at=NOW))


def test_bulk_grant_gives_one_app_up_to_100_apis(L: Ledger) -> None:
    app_id = new_app(L)
    apis = [new_api(L) for _ in range(101)]
    rejected(L, InvalidInput, lambda: L.grant("provider", app_id, apis, "RELEASE", at=NOW))
    assert L.grant("provider", app_id, apis[:100], "RELEASE", at=NOW).events == 100


def test_bulk_grant_is_atomic_one_bad_app_writes_nothing(L: Ledger) -> None:
    api_id = new_api(L)
    apps = [new_app(L) for _ in range(5)]
    import uuid

    rejected(L, AppNotFound, lambda: L.grant("provider", apps + [str(uuid.uuid4())], api_id, "RELEASE", at=NOW))
    L.delete_app(apps[2], "consumer")
    rejected(L, AppIsDeleted, lambda: L.grant("provider", apps, api_id, "RELEASE", at=NOW))
    rejected(L, InvalidInput, lambda: L.grant("provider", apps + ["not-a-uuid"], api_id, "RELEASE", at=NOW))
    assert all(L.get_app(a).grants == {} for a in apps)


def test_bulk_grant_is_atomic_one_foreign_api_writes_nothing(L: Ledger) -> None:
    app_id = new_app(L)
    apis = [new_api(L) for _ in range(3)] + [new_api(L, owner="someone_else")]
    rejected(L, NotPermitted, lambda: L.grant("provider", app_id, apis, "RELEASE", at=NOW))


def test_grant_until_an_instant_in_the_past_or_now_is_refused(L: Ledger) -> None:
    api_id, app_id = new_api(L), new_app(L)
    rejected(L, InvalidInput, lambda: L.grant("provider", app_id, api_id, "RELEASE", until=NOW - timedelta(seconds=1), at=NOW))
    rejected(L, InvalidInput, lambda: L.grant("provider", app_id, api_id, "RELEASE", until=NOW, at=NOW))
    rejected(L, InvalidInput, lambda: L.grant("provider", app_id, api_id, "RELEASE", until="2001-01-01T00:00:00Z"))


def test_instants_without_timezone_are_refused(L: Ledger) -> None:
    api_id, app_id = new_api(L), new_app(L)
    naive = datetime(2031, 1, 1)
    rejected(L, InvalidInput, lambda: L.grant("provider", app_id, api_id, "RELEASE", until=naive, at=NOW))
    rejected(L, InvalidInput, lambda: L.grant("provider", app_id, api_id, "RELEASE", until="2031-01-01T00:00:00", at=NOW))
    rejected(L, InvalidInput, lambda: L.disable_app(app_id, "consumer", at=naive))


def test_instants_with_an_offset_are_stored_in_utc(L: Ledger) -> None:
    api_id, app_id = new_api(L), new_app(L)
    L.grant("provider", app_id, api_id, "RELEASE", until="2031-01-01T08:00:00+08:00", at=NOW)
    until = L.get_app(app_id).grants[(api_id, "RELEASE")].until
    assert until == datetime(2031, 1, 1, tzinfo=timezone.utc) and until.utcoffset() == timedelta(0)


def test_a_bad_stage_is_invalid(L: Ledger) -> None:
    api_id, app_id = new_api(L), new_app(L)
    rejected(L, InvalidInput, lambda: L.grant("provider", app_id, api_id, "release", at=NOW))
    rejected(L, InvalidInput, lambda: L.revoke("provider", app_id, api_id, "PROD"))


def test_unknown_ids_are_not_found(L: Ledger) -> None:
    import uuid

    api_id, app_id = new_api(L), new_app(L)
    rejected(L, AppNotFound, lambda: L.disable_app(uuid.uuid4(), "consumer"))
    rejected(L, ApiNotFound, lambda: L.grant("provider", app_id, uuid.uuid4(), "RELEASE", at=NOW))
    # An API id is not an app id, and vice versa.
    rejected(L, AppNotFound, lambda: L.disable_app(api_id, "consumer"))
    rejected(L, ApiNotFound, lambda: L.grant("provider", app_id, app_id, "RELEASE", at=NOW))
    rejected(L, KeyPairNotFound, lambda: L.delete_key_pair(app_id, "nosuchkey", "consumer"))
    rejected(L, AppCodeNotFound, lambda: L.reset_app_code(CODE, "consumer"))
    rejected(L, AppCodeNotFound, lambda: L.delete_app_code(app_id, CODE, "consumer"))


def test_a_malformed_actor_or_source_is_invalid(L: Ledger) -> None:
    app_id = new_app(L)
    rejected(L, InvalidInput, lambda: L.disable_app(app_id, ""))
    rejected(L, InvalidInput, lambda: L.disable_app(app_id, "bad actor"))
    rejected(L, InvalidInput, lambda: L.disable_app(app_id, "consumer", source="carrier-pigeon"))


def test_commands_that_change_nothing_write_nothing(L: Ledger) -> None:
    app_id = new_app(L, name="Same")
    before = L.recorder.max_notification_id()
    assert L.enable_app(app_id, "consumer").events == 0
    assert L.modify_app(app_id, "consumer", name="Same").events == 0
    assert L.recorder.max_notification_id() == before


# -- errors ------------------------------------------------------------------------------


def test_error_classes_carry_the_documented_exit_codes() -> None:
    assert (LedgerError.exit_code, InvalidInput.exit_code, NotFound.exit_code) == (1, 2, 3)
    assert (NotPermitted.exit_code, Conflict.exit_code) == (4, 5)
    for cls in (errors.AppNotFound, errors.ApiNotFound, errors.KeyPairNotFound, errors.AppCodeNotFound, errors.GrantNotFound):
        assert issubclass(cls, NotFound) and cls.exit_code == 3
    for cls in (DuplicateAppKey, DuplicateAppCode, errors.ConcurrentChange, AppIsDeleted, KeyPairLimitReached, DefaultKeyPairUndeletable):
        assert issubclass(cls, Conflict) and cls.exit_code == 5


def test_error_messages_never_contain_the_secret_or_the_code(L: Ledger) -> None:
    app_id = new_app(L, owner="alice", app_key="alicekey1", app_secret=SECRET, app_code=CODE)
    bad_secret = "has a space in it!!"
    attempts = [
        lambda: new_app(L, owner="bob", app_code=CODE),
        lambda: new_app(L, owner="bob", app_secret=bad_secret),
        lambda: new_app(L, owner="bob", app_secret=SECRET + " x"),
        lambda: new_app(L, owner="bob", app_code=CODE + "-"),
        lambda: L.reset_app_code(CODE, "bob"),
        lambda: L.reset_app_code(CODE[::-1], "alice"),
        lambda: L.delete_app_code(app_id, CODE, "bob"),
        lambda: L.delete_app_code(app_id, CODE[::-1], "alice"),
        lambda: L.add_app_code(app_id, "alice", code=CODE),
        lambda: L.reset_key_pair("alicekey1", "alice", new_app_secret=SECRET + "\x00"),
        lambda: L.reset_app_code(CODE, "alice", new_code=CODE),
    ]
    for fn in attempts:
        with pytest.raises(LedgerError) as info:
            fn()
        text = str(info.value) + repr(info.value) + str(info.value.to_dict())
        for secret in (SECRET, bad_secret, CODE, CODE[::-1]):
            assert secret not in text, text


@pytest.mark.parametrize("pattern", [
    "/r/{a}{b}{c}{d}{e}{f}{g}{h}/z",  # the regex-backtracking attack of issue 13.3
    "/items/{id}.json", "/items/x{id}", "/{}", "/{1a}", "/{a-b}", "/a{b/c}",
    "/" + "/".join(["s"] * 33), "/{" + "a" * 65 + "}",
])
def test_patterns_that_are_not_whole_segment_parameters_are_refused(pattern: str) -> None:
    with pytest.raises(InvalidInput) as e:
        rules.path_pattern(pattern)
    assert e.value.field == "path"


@pytest.mark.parametrize("pattern", ["/v1/items/{id}", "/{a}/{b_2}/c", "/", "/v1/", "/" + "/".join(["s"] * 32)])
def test_whole_segment_patterns_are_accepted(pattern: str) -> None:
    assert rules.path_pattern(pattern) == pattern
