"""R9: grouping destination domains that have no identity store into forests. Pure."""

from __future__ import annotations

from collections.abc import Iterable


def is_dns_parent(parent: str, child: str) -> bool:
    """``corp.com`` is a parent of ``a.corp.com`` (whole labels), not of ``xcorp.com`` nor itself."""
    return child != parent and child.endswith("." + parent)


def infer_forest_roots(domains: Iterable[str], ldap_roots: dict[str, str]) -> dict[str, tuple[str, str]]:
    """Each domain -> (forest root, how it was determined).

    ``ldap_roots`` holds the forest root that a domain's rootDSE named (``rootDomainNamingContext``),
    for the domains that could be reached. Otherwise a destination domain that is a DNS parent of
    others is their root (the topmost such parent); a domain with no such parent is a root of its
    own only if it is the parent of some other domain, else its forest cannot be determined and it
    gets a store of its own ("domain"). Siblings whose common parent is not a destination are not
    merged.
    """
    names = sorted(set(domains))
    result: dict[str, tuple[str, str]] = {}
    for domain in names:
        if domain in ldap_roots:
            result[domain] = (ldap_roots[domain], "ldap")
            continue
        parents = [p for p in names if is_dns_parent(p, domain)]
        if parents:
            top = min(parents, key=lambda p: p.count("."))
            # the parent's own root may be confirmed over LDAP: follow it
            root = ldap_roots.get(top, top)
            result[domain] = (root, "dns")
        elif any(is_dns_parent(domain, other) for other in names):
            result[domain] = (ldap_roots.get(domain, domain), "dns")
        else:
            result[domain] = (domain, "domain")
    return result


def dns_ancestors(domain: str) -> list[str]:
    """The DNS parents of ``domain``, nearest first: ``x.a.corp.com`` -> ``a.corp.com``, ``corp.com``, ``com``."""
    labels = domain.split(".")
    return [".".join(labels[i:]) for i in range(1, len(labels))]
