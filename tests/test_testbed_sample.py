"""The test bed seeded from the sample: the sample's Smart Groups over LDAPS, byte for byte (R17 filter)."""

from __future__ import annotations

from pathlib import Path

import ldif
import pytest

from groupid_upgrade.storage.directory import GROUPID_ATTRIBUTES, SMART_GROUP_FILTER, DirectoryClient
from testbed.fixtures_samba import admin_password, state_dir_path
from testbed.seed import sample_dir


def sample_groups_with_groupid_attributes(ldif_path: Path) -> dict[str, dict[str, list[bytes]]]:
    """From the sample's LDIF (read with the ``ldif`` package): each group that carries a GroupID attribute."""
    wanted = {a.lower() for a in GROUPID_ATTRIBUTES}
    out: dict[str, dict[str, list[bytes]]] = {}
    with ldif_path.open("rb") as fh:
        for dn, entry in ldif.LDIFParser(fh).parse():
            classes = {v.decode().lower() if isinstance(v, bytes) else str(v).lower() for v in entry.get("objectClass", [])}
            attrs = {k.lower(): [v if isinstance(v, bytes) else str(v).encode() for v in vals]
                     for k, vals in entry.items() if k.lower() in wanted}
            if "group" in classes and attrs:
                out[dn.lower()] = attrs
    return out


@pytest.mark.testbed
@pytest.mark.parametrize("fixture", ["samba_corp", "samba_fabrikam"])
def test_r17_sample_smart_groups_found_with_the_corrected_filter_and_read_back_byte_for_byte(
    fixture: str, request: pytest.FixtureRequest
) -> None:
    env = request.getfixturevalue(fixture)
    domain = ".".join(p.split("=")[1] for p in env["LDAP_BASE_DN"].split(","))
    expected = sample_groups_with_groupid_attributes(sample_dir(state_dir_path()) / "directory" / f"{domain}.ldif")
    assert len(expected) >= 15  # every managed GroupType of the sample
    sample_ous = f"OU=GroupID,{env['LDAP_BASE_DN']}"
    with DirectoryClient(env["LDAP_URL"], user=env["LDAP_BIND_DN"], password=admin_password(env),
                         ca_file=env["LDAP_CA_FILE"]) as client:
        found = {e["dn"].lower(): {k.lower(): v for k, v in e["attributes"].items() if v}
                 for e in client.paged_search(sample_ous, SMART_GROUP_FILTER, GROUPID_ATTRIBUTES, page_size=7)}
    assert set(found) == set(expected)
    for dn, attrs in expected.items():
        assert set(found[dn]) == set(attrs), dn
        for name, values in attrs.items():
            assert sorted(found[dn][name]) == sorted(values), (dn, name)
