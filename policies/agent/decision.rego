# Folds guardrails, Conditional Access and custom Rego into the decision
# document (policies/README.md, "Output"). Used by agent.decide (every policy
# of the tenant) and agent.whatif (the selected policies, with per-policy
# conditions).
package agent.decision

import data.agent.ca
import data.agent.facts
import data.agent.guardrails
import data.agent.lifecycle
import data.agent.util

# build(enforced, policies): `enforced` are the policy indexes of the enforced
# Conditional Access policies that apply (agent.ca), `policies` the per-policy
# output. When the signal store is unavailable nothing is evaluated against
# missing signals: the only reason is signals_unavailable and no policy is
# reported.
build(enforced, policies) := unavailable_result if {
	facts.unavailable
} else := result(enforced, policies)

unavailable_result := {
	"decision": "deny",
	"grant": null,
	"reasons": [{
		"code": "signals_unavailable",
		"message": "Directory records and risk signals are unavailable; the request is denied (fail closed).",
		"policy_id": null,
	}],
	"required_controls": [],
	"policies": [],
	"signals": facts.signals_out,
}

result(enforced_indexes, policies) := out if {
	# Only enabled policies that apply are enforced; report-only never are.
	enforced := [facts.policies[i] | some i in enforced_indexes]
	failed := [facts.policies[i] | some i in enforced_indexes; ca.codes[i] == ca.enforced_failure_code]

	# grant.scopes = requested (order kept, deduplicated) ∩ effective
	# permissions for the resource (blueprint, direct, active assignments) ∩
	# each enforced allowedScopes ∩ each custom obligation's allowedScopes.
	scope_sets := array.concat(
		[{s | some s in scopes} | some p in enforced; scopes := p.agentControls.allowedScopes; is_array(scopes)],
		custom_scope_sets,
	)
	granted := [s |
		some s in facts.requested_scopes
		s in guardrails.effective_scopes
		every allowed in scope_sets {
			s in allowed
		}
	]

	# "block" is never satisfied: a failed policy blocks or lacks controls.
	blocks := [ca_reason("ca_block", p) | some p in failed; "block" in ca.controls(p)]
	unsatisfied := [p | some p in failed; not "block" in ca.controls(p)]

	deny_reasons := array.concat(
		array.concat(array.concat(guardrails.reasons, lifecycle.deny_reasons), no_permitted_scopes(granted)),
		array.concat(
			array.concat(blocks, [ca_reason("ca_grant_unsatisfied", e) | some e in unsatisfied]),
			custom_deny_reasons,
		),
	)
	allow := count(deny_reasons) == 0
	base_ttl := ttl(enforced)
	capped_ttl := min(array.concat([base_ttl], assignment_ttl_caps(granted)))

	out := {
		"decision": decision_text(allow),
		"grant": grant(allow, granted, capped_ttl),
		"reasons": array.concat(
			array.concat(reasons(allow, deny_reasons, granted), assignment_expiring(allow, granted, base_ttl, capped_ttl)),
			lifecycle_warnings(allow),
		),
		"required_controls": required_controls(allow, blocks, unsatisfied),
		"policies": policies,
		"signals": facts.signals_out,
	}
}

# An allowed agent in a lifecycle grace period is told when the action applies.
lifecycle_warnings(true) := lifecycle.warnings

lifecycle_warnings(false) := []

decision_text(true) := "allow"

decision_text(false) := "deny"

grant(true, scopes, ttl_seconds) := {"audience": facts.resource, "scopes": scopes, "ttl_seconds": ttl_seconds}

grant(false, _, _) := null

reasons(false, deny_reasons, _) := deny_reasons

reasons(true, _, granted) := scope_narrowed(granted)

# Controls the caller could satisfy and retry with: those still missing in the
# enforced policies that were not satisfied. None when allowed or when a
# policy blocks (no step-up can help then).
required_controls(true, _, _) := []

required_controls(false, blocks, _) := [] if count(blocks) > 0

required_controls(false, blocks, unsatisfied) := sort({c | some p in unsatisfied; some c in ca.missing_controls(p)}) if {
	count(blocks) == 0
}

# --- lifetime ------------------------------------------------------------------

# ttl = min(requested or default, blueprint max, enforced policies'
# maxTokenTtlSeconds and sign-in frequency, custom obligations, global max).
# A policy caps it with agentControls.maxTokenTtlSeconds and its sign-in
# frequency (compiled to seconds by the engine).
ttl(enforced) := min(array.concat(
	array.concat(
		array.concat([requested_ttl, facts.max_ttl], blueprint_ttl_cap),
		array.concat(
			[n | some p in enforced; n := p.agentControls.maxTokenTtlSeconds; is_number(n)],
			[n | some p in enforced; n := p.compiled.sign_in_frequency_seconds; is_number(n)],
		),
	),
	custom_ttl_caps,
))

requested_ttl := n if {
	n := facts.request.requested_ttl_seconds
	is_number(n)
	n > 0
} else := facts.default_ttl

blueprint_ttl_cap := [n] if {
	n := facts.blueprint.max_ttl_seconds
	is_number(n)
	n > 0
} else := []

# A token never outlives the assignment that grants its scopes: a granted scope
# held only through access-package assignments caps the lifetime at the
# seconds left of the latest-expiring assignment granting it.
assignment_ttl_caps(granted) := [left |
	some s in granted
	not s in guardrails.permanent_scopes
	left := guardrails.grant_expiry[s] - facts.now
]

assignment_expiring(true, granted, base_ttl, capped_ttl) := [{
	"code": "assignment_expiring",
	"message": concat("", [
		"Token lifetime for agent '", facts.agent_id, "' capped at ", format_int(capped_ttl, 10),
		" seconds: access-package assignments granting ",
		util.join([s | some s in granted; not s in guardrails.permanent_scopes]), " expire then.",
	]),
	"policy_id": null,
}] if {
	capped_ttl < base_ttl
} else := []

assignment_expiring(false, _, _, _) := []

# --- custom Rego (package agent.custom) ----------------------------------------

custom_deny_reasons := [{
	"code": "custom_deny",
	"custom_code": custom_code(d),
	"message": custom_message(d),
	"policy_id": null,
} |
	some d in data.agent.custom.deny
]

# object.get (not d.code): custom modules are type-checked together with this
# one, and a module whose entries lack a key must still compile.
custom_code(d) := c if {
	c := object.get(d, "code", null)
	is_string(c)
} else := "custom"

custom_message(d) := m if {
	m := object.get(d, "message", null)
	is_string(m)
} else := "Denied by a custom policy."

custom_scope_sets := [{s | some s in scopes} |
	some o in data.agent.custom.obligations
	scopes := object.get(o, "allowedScopes", null)
	is_array(scopes)
]

custom_ttl_caps := [n |
	some o in data.agent.custom.obligations
	n := object.get(o, "maxTokenTtlSeconds", null)
	is_number(n)
]

# --- reasons -------------------------------------------------------------------

# no_permitted_scopes is reported only when the blueprint permits the
# resource: otherwise the empty grant is already explained by another reason.
no_permitted_scopes(granted) := [{
	"code": "no_permitted_scopes",
	"message": concat("", [
		"None of the requested scopes (", util.join(facts.requested_scopes),
		") is permitted for agent '", facts.agent_id, "' on '", facts.resource, "'.",
	]),
	"policy_id": null,
}] if {
	guardrails.resource_permitted
	count(granted) == 0
} else := []

scope_narrowed(granted) := [] if {
	granted == facts.requested_scopes
} else := [{
	"code": "scope_narrowed",
	"message": concat("", [
		"Scopes for agent '", facts.agent_id, "' on '", facts.resource, "' narrowed to ",
		util.join(granted), "; not granted: ",
		util.join([s | some s in facts.requested_scopes; not s in granted]), ".",
	]),
	"policy_id": null,
}]

ca_reason(code, p) := {
	"code": code,
	"message": ca_message(code, p),
	"policy_id": object.get(p, "id", null),
}

ca_message("ca_block", p) := concat("", [
	policy_text(p), " blocks agent '", facts.agent_id, "' from '", facts.resource, "'.",
])

ca_message("ca_grant_unsatisfied", p) := concat("", [
	policy_text(p), " requires ", concat(ca.controls_joiner(p), [util.to_text(c) | some c in ca.controls(p)]),
	" for agent '", facts.agent_id, "' on '", facts.resource, "'.",
])

policy_text(p) := concat("", [
	"Conditional Access policy '", util.to_text(ca.policy_name(p)), "' (", util.to_text(object.get(p, "id", null)), ")",
])
