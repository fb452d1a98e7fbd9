# Directory guardrails: the checks every token request must pass before (and
# independently of) Conditional Access. All failing checks are reported, in
# this fixed order; checks that need a record are skipped when the record is
# missing (no blueprint_* reasons for an unknown agent, no resource check
# without a blueprint) so each reason names a real, separate problem.
#
# Records are fail-closed: `enabled` must be literally true.
package agent.guardrails

import data.agent.facts
import data.agent.lifecycle
import data.agent.util

# Messages are built only for the checks that fail, and the list of checks
# only when one does (the common case allocates nothing).
reasons := [] if {
	not any_failed
} else := [{"code": code, "message": message(code), "policy_id": null} |
	some [code, on] in [
		["agent_not_found", agent_not_found],
		["agent_disabled", agent_disabled],
		["agent_expired", agent_expired],
		["agent_no_sponsor", agent_no_sponsor],
		["agent_user_not_found", agent_user_not_found],
		["agent_user_disabled", agent_user_disabled],
		["agent_user_mismatch", agent_user_mismatch],
		["blueprint_not_found", blueprint_not_found],
		["blueprint_disabled", blueprint_disabled],
		["blueprint_mismatch", blueprint_mismatch],
		["resource_not_permitted", resource_not_permitted],
	]
	on == true
]

default any_failed := false

any_failed if agent_not_found

any_failed if agent_disabled

any_failed if agent_expired

any_failed if agent_no_sponsor

any_failed if agent_user_not_found

any_failed if agent_user_disabled

any_failed if agent_user_mismatch

any_failed if blueprint_not_found

any_failed if blueprint_disabled

any_failed if blueprint_mismatch

any_failed if resource_not_permitted

# The agent's blueprint id from the directory ("" when unknown).
blueprint_id := util.str(facts.agent, "blueprint_id")

enabled(record) if record.enabled == true

default agent_not_found := false

agent_not_found if not facts.has_agent

default agent_disabled := false

agent_disabled if {
	facts.has_agent
	not enabled(facts.agent)
}

# Expired when expires_at_epoch <= now. A missing `now` cannot prove the agent
# is still valid, so an agent with an expiry is then treated as expired.
default agent_expired := false

agent_expired if {
	facts.has_agent
	exp := facts.agent.expires_at_epoch
	is_number(exp)
	not valid_at_now(exp)
}

valid_at_now(exp) if exp > facts.now

default agent_no_sponsor := false

agent_no_sponsor if {
	facts.has_agent
	not lifecycle.below_minimum_sponsors
	count([s | some s in util.arr(facts.agent, "sponsors"); is_string(s); s != ""]) == 0
}

# --- agent user (flow agent_user only) -------------------------------------------
# The token's subject is an agent user: it must exist, be enabled, and be the
# agent user of the requesting agent (Entra: 1:1, agent user ↔ agent identity).

in_agent_user_flow if facts.flow == "agent_user"

default agent_user_not_found := false

agent_user_not_found if {
	in_agent_user_flow
	not facts.has_agent_user
}

default agent_user_disabled := false

agent_user_disabled if {
	in_agent_user_flow
	facts.has_agent_user
	not enabled(facts.agent_user)
}

default agent_user_mismatch := false

agent_user_mismatch if {
	in_agent_user_flow
	facts.has_agent_user
	not agent_user_of_agent
}

agent_user_of_agent if {
	linked := facts.agent_user.agent_id
	is_string(linked)
	linked == facts.agent_id
}

agent_user_id := util.to_text(object.get(facts.user, "id", null))

default blueprint_not_found := false

blueprint_not_found if {
	facts.has_agent
	not facts.has_blueprint
}

default blueprint_disabled := false

blueprint_disabled if {
	facts.has_blueprint
	not enabled(facts.blueprint)
}

default blueprint_mismatch := false

blueprint_mismatch if {
	facts.has_agent
	requested := facts.request.blueprint_id
	is_string(requested)
	requested != blueprint_id
}

# --- effective permissions (Entra: inherited + direct + access packages) -------
# An agent's effective permissions are the union of its blueprint's (inherited
# by every agent of the blueprint), its own direct grants (agent.permissions)
# and the access-package assignments still active at `now`
# (input.directory.grants, expires_at_epoch > now). Any of them may list the
# resource under any name it goes by (appId, identifier URI, or as
# requested): facts.resource_names.

# Permanent sources: the blueprint's and the agent's own.
permanent_permissions := [p |
	some p in [object.get(facts.blueprint, "permissions", null), object.get(facts.agent, "permissions", null)]
	is_object(p)
]

# Entitlements of active assignments. A missing `now` cannot prove one is
# still active, so then none is.
active_grants := [g |
	some g in util.arr(object.get(input, "directory", {}), "grants")
	is_object(g)
	exp := g.expires_at_epoch
	is_number(exp)
	valid_at_now(exp)
	is_object(g.permissions)
]

default resource_permitted := false

resource_permitted if {
	some p in permanent_permissions
	some n in facts.resource_names
	is_array(p[n])
}

resource_permitted if {
	some g in active_grants
	some n in facts.resource_names
	is_array(g.permissions[n])
}

default resource_not_permitted := false

resource_not_permitted if {
	facts.has_blueprint
	not resource_permitted
}

# Scopes on the requested resource from a source that does not expire.
permanent_scopes := {s |
	some p in permanent_permissions
	some n in facts.resource_names
	some s in util.arr(p, n)
	is_string(s)
}

# Scopes the blueprint alone permits on the requested resource.
blueprint_scopes := {s |
	some n in facts.resource_names
	some s in util.arr(object.get(facts.blueprint, "permissions", {}), n)
	is_string(s)
}

# Scope → the latest expiry among the active assignments that grant it.
grant_expiry[s] := max([exp |
	some g in active_grants
	some n in facts.resource_names
	some s2 in util.arr(g.permissions, n)
	s2 == s
	exp := g.expires_at_epoch
]) if {
	some g in active_grants
	some n in facts.resource_names
	some s in util.arr(g.permissions, n)
	is_string(s)
}

# Every scope the agent holds on the requested resource.
effective_scopes := permanent_scopes | {s | some s, _ in grant_expiry}

# --- messages ------------------------------------------------------------------

message("agent_not_found") := msg_agent_not_found

message("agent_disabled") := msg_agent_disabled

message("agent_expired") := msg_agent_expired

message("agent_no_sponsor") := msg_agent_no_sponsor

message("agent_user_not_found") := concat("", [
	"Agent user '", agent_user_id, "' was not found in tenant '", facts.tenant, "'.",
])

message("agent_user_disabled") := concat("", ["Agent user '", agent_user_id, "' is disabled."])

message("agent_user_mismatch") := concat("", [
	"Agent user '", agent_user_id, "' belongs to agent '",
	util.to_text(object.get(facts.agent_user, "agent_id", null)), "', not to ", agent_text, ".",
])

message("blueprint_not_found") := msg_blueprint_not_found

message("blueprint_disabled") := msg_blueprint_disabled

message("blueprint_mismatch") := msg_blueprint_mismatch

message("resource_not_permitted") := msg_resource_not_permitted

agent_text := concat("", ["Agent '", facts.agent_id, "'"])

msg_agent_not_found := concat("", [agent_text, " was not found in tenant '", facts.tenant, "'."])

msg_agent_disabled := concat("", [agent_text, " is disabled."])

msg_agent_expired := concat("", [agent_text, " expired at ", expiry_text, "."])

expiry_text := t if {
	t := facts.agent.expires_at
	is_string(t)
} else := util.to_text(object.get(facts.agent, "expires_at_epoch", null))

msg_agent_no_sponsor := concat("", [agent_text, " has no sponsor; every agent identity needs at least one."])

msg_blueprint_not_found := concat("", ["Blueprint '", blueprint_id, "' of agent '", facts.agent_id, "' was not found."])

msg_blueprint_disabled := concat("", ["Blueprint '", blueprint_id, "' is disabled."])

msg_blueprint_mismatch := concat("", [
	agent_text, " belongs to blueprint '", blueprint_id,
	"', not '", util.to_text(object.get(facts.request, "blueprint_id", null)), "'.",
])

msg_resource_not_permitted := concat("", [
	agent_text, " has no permission on resource '", facts.resource,
	"' (from blueprint '", blueprint_id, "', direct grants or active access-package assignments).",
])
