# Shared fixtures for the agent.* tests (a *_test.rego file: never built).
#
# `decide`/`whatif` run the entrypoints with the custom Rego switched off, so
# the core semantics are tested alone; policies/custom has its own tests.
# Tenants are compiled as the engine compiles them (agent.compile), and the
# per-policy outcome codes are decoded into the reports the service returns
# (`decoded`), so tests read results as the API shows them.
package agent.fixtures

import data.agent.ca
import data.agent.compile
import data.agent.util

now := 1795780800

agent := {
	"id": "agt-1", "blueprint_id": "bp-pay", "display_name": "Payments bot", "enabled": true,
	"sponsors": ["u-owner"], "attributes": {"tier": "prod", "team": "finance", "labels": ["pci", "eu"]},
	"expires_at": null, "expires_at_epoch": null,
}

blueprint := {
	"id": "bp-pay", "display_name": "Payments", "enabled": true,
	"permissions": {"api://payments": ["payments.read", "payments.write", "payments.admin"]},
	"max_ttl_seconds": null, "attributes": {},
}

user := {"id": "u-42", "amr": ["pwd", "mfa"], "risk": "none", "device": {"platform": "windows", "compliant": true}}

# An autonomous request from agt-1 for payments.read; no user, no client.
input_base := {
	"now": {"epoch_seconds": now, "rfc3339": "2026-11-27T12:00:00Z"},
	"request": {
		"tenant": "default", "flow": "autonomous", "agent_id": "agt-1",
		"resource": "api://payments", "scopes": ["payments.read"], "context": {},
	},
	"directory": {"agent": agent, "blueprint": blueprint},
	"signals": {"agent_risk": null, "user_risk": null, "revocation": null, "degraded": false, "unavailable": false},
}

# Deep-merge helpers (object.union merges objects recursively, replaces the rest).
req(patch) := object.union(input_base, {"request": patch})

# An on_behalf_of request with the fixture user, patched.
obo(patch) := object.union(req({"flow": "on_behalf_of", "user": user}), {"request": patch})

with_agent(patch) := object.union(input_base, {"directory": {"agent": patch}})

with_blueprint(patch) := object.union(input_base, {"directory": {"blueprint": patch}})

with_signals(inp, patch) := object.union(inp, {"signals": patch})

locations := [
	{"id": "loc-hq", "displayName": "HQ", "isTrusted": true, "ipRanges": ["10.0.0.0/8", "2001:db8::/32"]},
	{"id": "loc-nl", "displayName": "Netherlands", "countriesAndRegions": ["NL"], "includeUnknownCountriesAndRegions": false},
	{"id": "loc-lab", "displayName": "Lab", "isTrusted": false, "ipRanges": ["192.168.0.0/16"]},
]

# A policy document as the engine hands it over; `patch` is deep-merged.
policy(patch) := object.union(
	{
		"id": "ca-test", "displayName": "Test policy", "state": "enabled",
		"conditions": {"flows": ["autonomous", "on_behalf_of", "agent_user"]},
		"grantControls": {"operator": "OR", "builtInControls": ["block"]},
		"compiled": {"agent_filter": null, "sign_in_frequency_seconds": null},
	},
	patch,
)

tenants(policies) := {"default": compile.tenant(policies, locations)}

pdp := {"config": {"default_ttl_seconds": 3600, "max_ttl_seconds": 86400}}

decide(inp, policies) := decoded(r, policies) if {
	r := data.agent.decide.result with input as inp
		with data.tenants as tenants(policies)
		with data.pdp as pdp
		with data.agent.custom.deny as set()
		with data.agent.custom.obligations as set()
}

whatif(inp, policies) := decoded(r, policies) if {
	r := data.agent.whatif.result with input as inp
		with data.tenants as tenants(policies)
		with data.pdp as pdp
		with data.agent.custom.deny as set()
		with data.agent.custom.obligations as set()
}

# The output with `policies` as the service returns them: per policy the
# static fields of its document and the result and reason its outcome code
# stands for. `policies` are the (raw) documents of the request's tenant.
# Decide and the gateway carry one code per policy; what-if one
# [index, outcome, conditions] per selected policy.
decoded(r, policies) := object.union(r, {"policies": [policy_report(docs, i, x) | some i, x in r.policies]}) if {
	docs := compile.tenant(policies, [])
}

policy_report(docs, i, code) := report_of(docs.policies[i], code) if {
	is_number(code)
} else := object.union(report_of(docs.policies[index], outcome), {"conditions": [named(c) | some c in conditions]}) if {
	[index, outcome, conditions] := code
}

# The outcome table (data.ca_outcomes) as src/engine/ca-outcomes.ts decodes
# it: code → [result, reason].
outcomes := object.union_n([
	{t.disabled.code: [t.disabled.result, t.disabled.reason]},
	{c: [n.result, t.conditions[r - 1]] | some n in t.not_applied; some r, c in n.codes; c != null},
	{s.code: [s.result, t.applied_reason] | some a in t.applied; some s in a},
]) if {
	t := data.ca_outcomes
}

# A What-If condition as the service reports it: its rank when matched, the
# negated rank when not.
named(c) := {"name": data.ca_outcomes.conditions[abs(c) - 1], "matched": c > 0}

report_of(p, code) := {
	"id": p.id,
	"name": name_of(p),
	"state": object.get(p, "state", null),
	"result": outcomes[code][0],
	"reason": outcomes[code][1],
	"controls": p.controls,
}

name_of(p) := n if {
	n := p.displayName
	is_string(n)
} else := p.id

# The What-If report of a single policy (with its conditions).
report(p, inp) := whatif(inp, [p]).policies[0]

codes(r) := [x.code | some x in r.reasons]

# Table runner: a case is {"name", "p": policy patch, "inp": input, "result", "reason"}.
table_ok(cases) if {
	failed := [c.name | some c in cases; not case_ok(c)]
	show_failures(failed)
	failed == []
}

case_ok(c) if {
	r := report(policy(c.p), c.inp)
	r.result == c.result
	r.reason == c.reason
}

show_failures(failed) if count(failed) == 0

show_failures(failed) if {
	count(failed) > 0
	print("failing cases:", failed)
}
