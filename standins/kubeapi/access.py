"""Authorization: a deny-list standing in for RBAC, the 403 it causes, and SelfSubjectAccessReview.

A request's verb comes from its method and path as the API server derives it (kubernetes/apiserver
``pkg/endpoints/request/requestinfo.go``: GET on a name is ``get``, on a collection ``list`` or
``watch``; POST ``create``; PUT ``update``; PATCH ``patch``; DELETE ``delete`` or
``deletecollection``). A denied request answers 403 with the Status apiserver builds
(kubernetes/apiserver ``pkg/endpoints/handlers/responsewriters/errors.go`` ``forbiddenMessage``:
``User "<u>" cannot <verb> resource "<resource>" in API group "<group>" in the namespace "<ns>"``,
or ``... at the cluster scope``), also for dry-run requests, which are authorized like real ones.
A SelfSubjectAccessReview (authorization.k8s.io/v1, https://kubernetes.io/docs/reference/access-authn-authz/authorization/#checking-api-access)
answers 201 with ``status.allowed`` for the asked attributes, from the same rules.

With ``rbac=True`` the stand-in authorizes like the RBAC authorizer instead of allowing all
(kubernetes/kubernetes ``plugin/pkg/auth/authorizer/rbac/rbac.go``; docs
https://kubernetes.io/docs/reference/access-authn-authz/rbac/): a request is allowed when a
RoleBinding in its namespace binds the user (``system:serviceaccount:<ns>:<name>``) to a Role of
that namespace or a ClusterRole, or a ClusterRoleBinding binds it to a ClusterRole, whose rule
lists the verb, the API group and the resource (``*`` matching any; ``resourceNames`` narrowing).
Discovery and SelfSubjectAccessReview stay allowed to everyone, as the default
``system:discovery`` and ``system:basic-user`` roles grant them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from standins.kubeapi import errors

DEFAULT_USER = "system:serviceaccount:jenkins:pipeline-steps"


@dataclass(frozen=True)
class Rule:
    """One denied combination; ``*`` matches anything, a subresource rule names ``resource/sub``."""

    verb: str = "*"
    group: str = "*"
    resource: str = "*"
    namespace: str = "*"
    name: str = "*"

    def matches(self, verb: str, group: str, resource: str, namespace: str, name: str) -> bool:
        return all(want in ("*", got) for want, got in ((self.verb, verb), (self.group, group),
                                                        (self.resource, resource), (self.namespace, namespace),
                                                        (self.name, name)))


class Access:
    """Everything is allowed except what ``deny`` lists; with ``rbac``, only what RBAC objects grant."""

    def __init__(self, user: str = DEFAULT_USER, objects: dict[Any, Any] | None = None) -> None:
        self.user = user
        self.denied: list[Rule] = []
        self.rbac = False
        self.objects: dict[Any, Any] = objects if objects is not None else {}
        """The store's objects (RBAC mode reads Roles and bindings from them)."""

    def deny(self, verb: str = "*", group: str = "*", resource: str = "*", namespace: str = "*",
             name: str = "*") -> Rule:
        rule = Rule(verb, group, resource, namespace, name)
        self.denied.append(rule)
        return rule

    def allowed(self, verb: str, group: str, resource: str, namespace: str = "", name: str = "") -> bool:
        if any(r.matches(verb, group, resource, namespace, name) for r in self.denied):
            return False
        if (verb, group, resource) == ("create", "authorization.k8s.io", "selfsubjectaccessreviews"):
            return True  # system:basic-user grants it to every authenticated user
        return not self.rbac or self._granted(verb, group, resource, namespace, name)

    def _subject(self, subject: dict[str, Any], namespace: str) -> bool:
        if subject.get("kind") == "ServiceAccount":
            return self.user == f"system:serviceaccount:{subject.get('namespace') or namespace}:{subject.get('name')}"
        return bool(subject.get("kind") == "User" and subject.get("name") == self.user)

    def _granted(self, verb: str, group: str, resource: str, namespace: str, name: str) -> bool:
        bindings = [(k[2], o) for k, o in list(self.objects.items())
                    if k[:2] == ("rbac.authorization.k8s.io", "clusterrolebindings")
                    or (k[:2] == ("rbac.authorization.k8s.io", "rolebindings") and namespace and k[2] == namespace)]
        for where, binding in bindings:
            if not any(self._subject(s, where) for s in binding.get("subjects") or []):
                continue
            ref = binding.get("roleRef") or {}
            cluster = ref.get("kind") == "ClusterRole"
            role = self.objects.get(("rbac.authorization.k8s.io", "clusterroles" if cluster else "roles",
                                     "" if cluster else where, ref.get("name")))
            for rule in (role or {}).get("rules") or []:
                if _rule_matches(rule, verb, group, resource, name):
                    return True
        return False

    def check(self, verb: str, group: str, resource: str, subresource: str, namespace: str, name: str) -> None:
        full = f"{resource}/{subresource}" if subresource else resource
        if self.allowed(verb, group, full, namespace, name):
            return
        where = f'in the namespace "{namespace}"' if namespace else "at the cluster scope"
        why = f'User "{self.user}" cannot {verb} resource "{full}" in API group "{group}" {where}'
        raise errors.forbidden(group, resource, name, why)

    def review(self, body: Any) -> dict[str, Any]:
        """The answer to a SelfSubjectAccessReview ``body``."""
        spec = (body or {}).get("spec") if isinstance(body, dict) else None
        attributes = (spec or {}).get("resourceAttributes")
        if not isinstance(attributes, dict):
            raise errors.invalid("authorization.k8s.io", "SelfSubjectAccessReview", "", [
                ("spec.resourceAttributes", "FieldValueRequired",
                 "Required value: exactly one of nonResourceAttributes or resourceAttributes must be specified")])
        resource = str(attributes.get("resource") or "")
        if attributes.get("subresource"):
            resource = f"{resource}/{attributes['subresource']}"
        ok = self.allowed(str(attributes.get("verb") or ""), str(attributes.get("group") or ""), resource,
                          str(attributes.get("namespace") or ""), str(attributes.get("name") or ""))
        status: dict[str, Any] = {"allowed": ok}
        if ok:
            status["reason"] = f'RBAC: allowed by the stand-in\'s rules for User "{self.user}"'
        return {"kind": "SelfSubjectAccessReview", "apiVersion": "authorization.k8s.io/v1",
                "metadata": {"creationTimestamp": None}, "spec": spec, "status": status}


def _rule_matches(rule: dict[str, Any], verb: str, group: str, resource: str, name: str) -> bool:
    def has(key: str, value: str) -> bool:
        listed = rule.get(key) or []
        return "*" in listed or value in listed

    names = rule.get("resourceNames") or []
    return has("verbs", verb) and has("apiGroups", group) and has("resources", resource) and (not names or name in names)


def verb_of(method: str, named: bool, query: dict[str, str]) -> str:
    if method == "GET":
        if query.get("watch") in ("true", "1"):
            return "watch"
        return "get" if named else "list"
    return {"POST": "create", "PUT": "update", "PATCH": "patch"}.get(
        method, "delete" if named else "deletecollection")


__all__ = ["DEFAULT_USER", "Access", "Rule", "verb_of"]
