"""iam:SimulatePrincipalPolicy for the dev moto (see 6. in
hack/moto_launcher.py's module doc). moto 5.2.5 has no handler for it (its
server answers HTTP 500, NotImplementedError); this adds one to moto's IAM
responses, so the call passes moto's own request authentication first.

The call (query API, form-encoded POST, Action=SimulatePrincipalPolicy,
Version=2010-05-08), after
https://docs.aws.amazon.com/IAM/latest/APIReference/API_SimulatePrincipalPolicy.html,
https://docs.aws.amazon.com/IAM/latest/APIReference/API_EvaluationResult.html and
https://docs.aws.amazon.com/IAM/latest/APIReference/API_ResourceSpecificResult.html
(the same shapes as botocore's IAM model, which moto serializes from):

  - PolicySourceArn: an IAM user, role or group of the caller's account.
    Its identity-based policies are simulated: inline policies, attached
    managed policies (their default version) and, for a user, the inline
    and attached policies of its groups. Unknown: HTTP 404 NoSuchEntity;
    anything but a user, role or group ARN: HTTP 400 InvalidInput.
  - ActionNames.member.N (required), ResourceArns.member.N (default "*"):
    each action is evaluated on each resource.
  - ContextEntries.member.N (ContextKeyName, ContextKeyValues.member.N,
    ContextKeyType): the values the conditions are decided with.
  - MaxItems / Marker are ignored: every result is answered at once,
    IsTruncated false. PolicyInputList, PermissionsBoundaryPolicyInputList,
    ResourcePolicy, ResourceOwner, CallerArn, ResourceHandlingOption and
    PolicyExclusionList are ignored.

The answer: SimulatePrincipalPolicyResponse / SimulatePrincipalPolicyResult /
EvaluationResults / member per action, with EvalActionName, EvalResourceName
("*" when ResourceArns is absent or "*", the resource ARN when exactly one is
given, else "*": AWS names an ARN template here, which moto has no catalogue
of), EvalDecision (allowed | explicitDeny | implicitDeny; over several
resources the most restrictive), MatchedStatements (member: SourcePolicyId =
the policy's name, SourcePolicyType = user | group | role | user-managed |
aws-managed; no positions), MissingContextValues and, when ResourceArns is
given, ResourceSpecificResults (EvalResourceName, EvalResourceDecision,
MatchedStatements, MissingContextValues); IsTruncated false.

Each statement is judged by moto's own evaluator, the one its request
enforcement uses (`IAMPolicyStatement` in moto/iam/access_control.py: Action
/ NotAction / Resource matching with `*` wildcards, Effect); nothing here is
a second policy engine. What is added around it:
  - NotResource (moto reads only Resource): the statement applies to a
    resource that its NotResource does not match, by moto's own matcher.
  - Condition: moto decides only StringEquals and treats a condition whose
    key has no value as met. Here a statement with a Condition counts only
    when every operator in it is one moto decides and every key has exactly
    one value in ContextEntries (key names case-insensitive); then moto's
    condition check decides it, and a failed condition makes the statement
    not apply (moto itself answers Deny for it, whatever the Effect).
    Otherwise the statement is undecided: its keys without a value are
    listed in MissingContextValues, an undecided Allow grants nothing, and
    an undecided Deny keeps the decision from being `allowed`
    (implicitDeny). So a condition this cannot decide never yields allowed.
  - The decision, per AWS's evaluation logic: explicitDeny when a statement
    denies, allowed when one allows and none denies, else implicitDeny.
    Statements without Resource or NotResource (no valid identity policy
    has one) are skipped.

Not evaluated: permissions boundaries, SCPs and resource-based policies
(AWS's simulation ignores resource-based policies unless one is given in
ResourcePolicy, which is ignored here too). Inherited from moto's matcher:
action and resource matching is case-sensitive and `?` is no wildcard;
policy variables (${aws:username}) are not substituted.

The caller needs iam:SimulatePrincipalPolicy on the PolicySourceArn while
enforcement is on, checked by moto like any IAM call (its resource is the
PolicySourceArn, as in AWS's service authorization reference); without it:
HTTP 403 AccessDenied "User: <arn> is not authorized to perform:
iam:SimulatePrincipalPolicy on resource: <PolicySourceArn>". moto words
that refusal as <ErrorResponse><Errors><Error>..., which the AWS SDK for
Rust cannot read a code from (it sees a bare HTTP 403); for this action it is
answered in IAM's own error shape, <ErrorResponse xmlns=
"https://iam.amazonaws.com/doc/2010-05-08/"><Error><Type>Sender</Type>
<Code>AccessDenied</Code><Message>...</Message></Error><RequestId>...
(without AWS's "because no identity-based policy allows ..." clause).
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from moto.core.exceptions import AccessDeniedError
from moto.iam.access_control import IAMPolicy, IAMPolicyStatement, PermissionResult
from moto.iam.exceptions import InvalidInput, NotFoundException
from moto.iam.policy_conditions import CONDITION_OPERATIONS
from moto_xml import xml_escape
from werkzeug.exceptions import HTTPException

ACTION = "SimulatePrincipalPolicy"
# Bounds on the request (AWS's length constraints where it documents them).
MAX_ARN = 2048
MAX_ACTION = 128
MAX_PAIRS = 1000
MAX_CONTEXT = 100
MAX_CONTEXT_VALUES = 100
MAX_CONTEXT_LEN = 256

PRINCIPAL = re.compile(r"arn:([a-z-]+):iam::(\d{12}):(user|role|group)(/[\x21-\x7e]*)?/([\w+=,.@-]{1,128})")
ORDER = {"allowed": 0, "implicitDeny": 1, "explicitDeny": 2}


def _invalid(message: str) -> InvalidInput:
    return InvalidInput(message)


def _principal(backend: Any, arn: str, partition: str, account: str) -> tuple[str, Any]:
    """(kind, moto entity) named by `arn`, or NoSuchEntity / InvalidInput."""
    if len(arn) > MAX_ARN:
        raise _invalid("PolicySourceArn is longer than 2048 characters.")
    m = PRINCIPAL.fullmatch(arn)
    if not m:
        raise _invalid(f"Invalid ARN: {arn[:256]}. PolicySourceArn must be the ARN of an IAM user, role or group.")
    part, acct, kind, _, name = m.groups()
    missing = NotFoundException(f"The {kind} with name {name} cannot be found.")
    if part != partition or acct != account:
        raise missing
    try:
        entity = {"user": backend.get_user, "role": backend.get_role, "group": backend.get_group}[kind](name)
    except Exception:
        raise missing from None
    if entity.arn != arn:
        raise missing
    return kind, entity


def _sources(backend: Any, kind: str, entity: Any) -> list[tuple[str, str, dict[str, Any]]]:
    """(SourcePolicyId, SourcePolicyType, document) of every identity-based
    policy of the principal, as moto's enforcement collects them."""
    owners = [(kind, entity)]
    if kind == "user":
        owners += [("group", g) for g in backend.get_groups_for_user(entity.name)]
    out = []
    for owner_kind, owner in owners:
        for name, doc in owner.policies.items():
            out.append((name, owner_kind, IAMPolicy(doc)._policy_json))
        for p in owner.managed_policies.values():
            managed = "aws-managed" if ":iam::aws:policy/" in p.arn else "user-managed"
            out.append((p.name, managed, IAMPolicy(p)._policy_json))
    return out


def _context(entries: list[dict[str, Any]]) -> dict[str, list[str]]:
    if len(entries) > MAX_CONTEXT:
        raise _invalid(f"ContextEntries has more than {MAX_CONTEXT} members.")
    out: dict[str, list[str]] = {}
    for e in entries:
        key = e.get("ContextKeyName") or ""
        values = [str(v) for v in e.get("ContextKeyValues") or []]
        if not 5 <= len(key) <= MAX_CONTEXT_LEN:
            raise _invalid("ContextKeyName must be 5 to 256 characters long.")
        if len(values) > MAX_CONTEXT_VALUES or any(len(v) > MAX_CONTEXT_LEN for v in values):
            raise _invalid(f"ContextKeyValues of {key[:64]}: at most {MAX_CONTEXT_VALUES} values of 256 characters.")
        out.setdefault(key.lower(), []).extend(values)
    return out


def _conditions(stmt: dict[str, Any], context: dict[str, list[str]]) -> tuple[bool | None, list[str]]:
    """True / False when moto's condition check decides the statement's
    Condition with the context; None (and the keys without a value) when
    it cannot."""
    cond = stmt["Condition"]
    if not isinstance(cond, dict):
        return None, []
    incoming: dict[str, str] = {}
    missing: list[str] = []
    decidable = True
    for operator, pairs in cond.items():
        if not isinstance(pairs, dict):
            return None, []
        decidable = decidable and operator in CONDITION_OPERATIONS
        for key in pairs:
            values = context.get(str(key).lower())
            if values is None:
                missing.append(key)
            elif len(values) == 1:
                incoming[key] = values[0]
            else:
                decidable = False
    if missing or not decidable:
        return None, missing
    return IAMPolicyStatement(stmt)._check_conditions(incoming), []


def _judge(stmt: Any, action: str, resource: str, context: dict[str, list[str]]) -> tuple[str | None, list[str]]:
    """'allow', 'deny', 'undecided' or None (does not apply) for one
    statement, and the context keys it lacked."""
    if not isinstance(stmt, dict):
        return None, []
    shadow = {k: v for k, v in stmt.items() if k not in ("Condition", "NotResource", "Principal", "NotPrincipal")}
    if "NotResource" in stmt:
        if IAMPolicyStatement(stmt)._check_element_matches("NotResource", resource):
            return None, []
        shadow["Resource"] = "*"
    elif not stmt.get("Resource"):
        return None, []
    result = IAMPolicyStatement(shadow).is_action_permitted(action, resource)
    if result == PermissionResult.NEUTRAL:
        return None, []
    if "Condition" in stmt:
        met, missing = _conditions(stmt, context)
        if met is None:
            return "undecided", missing
        if not met:
            return None, []
    return ("allow" if result == PermissionResult.PERMITTED else "deny"), []


def _statements(doc: dict[str, Any]) -> list[Any]:
    s = doc.get("Statement", []) if isinstance(doc, dict) else []
    return s if isinstance(s, list) else [s]


def _evaluate(sources: list[tuple[str, str, dict[str, Any]]], action: str, resource: str,
              context: dict[str, list[str]]) -> tuple[str, list[dict[str, str]], list[str]]:
    """(decision, matched statements, missing context keys) of one pair."""
    seen: dict[str, list[dict[str, str]]] = {"allow": [], "deny": [], "undecided": []}
    missing: list[str] = []
    for policy_id, policy_type, doc in sources:
        for stmt in _statements(doc):
            verdict, lacking = _judge(stmt, action, resource, context)
            missing += [k for k in lacking if k not in missing]
            if verdict:
                seen[verdict].append({"SourcePolicyId": policy_id, "SourcePolicyType": policy_type})
    if seen["deny"]:
        return "explicitDeny", seen["deny"], missing
    if seen["allow"] and not seen["undecided"]:
        return "allowed", seen["allow"], missing
    return "implicitDeny", [], missing


def simulate(response: Any) -> Any:
    """The handler, as a method of moto's IamResponse."""
    from moto.core.responses import ActionResult

    kind, entity = _principal(
        response.backend, response._get_param("PolicySourceArn") or "", response.partition,
        response.current_account,
    )
    actions = response._get_param("ActionNames") or []
    given = response._get_param("ResourceArns") or []
    resources = given or ["*"]
    if not actions:
        raise _invalid("ActionNames must name at least one action.")
    if any(not 3 <= len(a) <= MAX_ACTION for a in actions):
        raise _invalid("Each of ActionNames must be 3 to 128 characters long.")
    if any(not 1 <= len(r) <= MAX_ARN for r in resources):
        raise _invalid("Each of ResourceArns must be 1 to 2048 characters long.")
    if len(actions) * len(resources) > MAX_PAIRS:
        raise _invalid(f"At most {MAX_PAIRS} action and resource pairs can be simulated at once.")
    context = _context(response._get_param("ContextEntries") or [])
    sources = _sources(response.backend, kind, entity)
    specific = given not in ([], ["*"])
    results = []
    for action in actions:
        per = []
        for resource in resources:
            decision, matched, missing = _evaluate(sources, action, resource, context)
            per.append({"EvalResourceName": resource, "EvalResourceDecision": decision,
                        "MatchedStatements": matched, "MissingContextValues": missing})
        top = max((p["EvalResourceDecision"] for p in per), key=ORDER.__getitem__)
        result: dict[str, Any] = {
            "EvalActionName": action,
            "EvalResourceName": resources[0] if len(resources) == 1 else "*",
            "EvalDecision": top,
            "MatchedStatements": _union([p["MatchedStatements"] for p in per if p["EvalResourceDecision"] == top]),
            "MissingContextValues": sorted({k for p in per for k in p["MissingContextValues"]}),
        }
        if specific:
            result["ResourceSpecificResults"] = per
        results.append(result)
    return ActionResult({"EvaluationResults": results, "IsTruncated": False})


def _union(lists: list[list[dict[str, str]]]) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    for items in lists:
        out += [s for s in items if s not in out]
    return out


class IamAccessDenied(HTTPException):
    """AccessDenied in IAM's error shape (see the module doc)."""

    code = 403

    def __init__(self, message: str) -> None:
        super().__init__(description=(
            '<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><Error><Type>Sender</Type>'
            f"<Code>AccessDenied</Code><Message>{xml_escape(message)}</Message></Error>"
            f"<RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>"
        ))


def patch() -> None:
    """Add the handler to moto's IAM responses; its authorization resource is
    the PolicySourceArn, a refusal is in IAM's error shape."""
    from moto.iam.responses import IamResponse

    def simulate_principal_policy(self: Any) -> Any:
        return simulate(self)

    orig = IamResponse._determine_resource

    def _determine_resource(self: Any) -> str:
        if self._get_action() == ACTION:
            arn = (self.data.get("PolicySourceArn") or [""])[0]
            return arn if 0 < len(arn) <= MAX_ARN else "*"
        return orig(self)

    orig_auth = IamResponse._authenticate_and_authorize_normal_action

    def _authenticate_and_authorize_normal_action(self: Any, resource: str = "*") -> None:
        if self._get_action() != ACTION:
            return orig_auth(self, resource)
        try:
            orig_auth(self, resource)
        except AccessDeniedError as e:
            self.response_headers["Content-Type"] = "text/xml"
            on = f" on resource: {resource}" if resource != "*" else ""
            raise IamAccessDenied(f"{e.message}{on}") from None

    IamResponse._authenticate_and_authorize_normal_action = _authenticate_and_authorize_normal_action  # type: ignore[method-assign]
    IamResponse.simulate_principal_policy = simulate_principal_policy  # type: ignore[attr-defined]
    IamResponse._determine_resource = _determine_resource  # type: ignore[method-assign]

