# Guardrails of the Entra Agent ID directory: the agent user of flow agent_user
# (found, enabled, linked to the requesting agent) and blueprint permissions
# under every name of the requested resource.
package agent.guardrails_test

import data.agent.fixtures

agent_user_record := {"id": "au-1", "agent_id": "agt-1", "enabled": true, "custom_security_attributes": {}}

# An agent_user request from agt-1 whose token names agent user au-1.
agent_user_input(record) := object.union(
	fixtures.req({"flow": "agent_user", "user": {"id": "au-1"}}),
	{"directory": {"agent_user": record}},
)

decide(inp) := fixtures.decide(inp, [])

test_agent_user_linked_and_enabled_allows if {
	r := decide(agent_user_input(agent_user_record))
	r.decision == "allow"
	fixtures.codes(r) == []
}

test_agent_user_not_found if {
	r := decide(agent_user_input(null))
	r.decision == "deny"
	fixtures.codes(r) == ["agent_user_not_found"]
	r.reasons[0].message == "Agent user 'au-1' was not found in tenant 'default'."
}

test_agent_user_disabled_unless_literally_true if {
	every enabled in [false, "true", 1, null] {
		r := decide(agent_user_input(object.union(agent_user_record, {"enabled": enabled})))
		fixtures.codes(r) == ["agent_user_disabled"]
	}
}

test_agent_user_of_another_agent_is_a_mismatch if {
	r := decide(agent_user_input(object.union(agent_user_record, {"agent_id": "agt-2"})))
	r.decision == "deny"
	fixtures.codes(r) == ["agent_user_mismatch"]
	r.reasons[0].message == "Agent user 'au-1' belongs to agent 'agt-2', not to Agent 'agt-1'."
}

test_agent_user_without_agent_id_is_a_mismatch if {
	r := decide(agent_user_input(object.remove(agent_user_record, ["agent_id"])))
	fixtures.codes(r) == ["agent_user_mismatch"]
}

test_disabled_and_mismatched_reports_both_in_order if {
	r := decide(agent_user_input({"id": "au-1", "agent_id": "agt-9", "enabled": false}))
	fixtures.codes(r) == ["agent_user_disabled", "agent_user_mismatch"]
}

test_agent_user_checks_follow_the_agent_checks if {
	inp := object.union(agent_user_input(object.union(agent_user_record, {"agent_id": "agt-2"})), {"directory": {"agent": {"enabled": false}}})
	fixtures.codes(decide(inp)) == ["agent_disabled", "agent_user_mismatch"]
}

test_agent_user_record_ignored_outside_its_flow if {
	inp := object.union(fixtures.obo({}), {"directory": {"agent_user": {"id": "u-42", "agent_id": "agt-2", "enabled": false}}})
	r := decide(inp)
	r.decision == "allow"
	fixtures.codes(r) == []
}

test_agent_user_missing_in_other_flows_is_not_checked if {
	r := decide(fixtures.input_base)
	r.decision == "allow"
}

# The blueprint lists the resource by appId; the request names its identifier URI.
resource_record := {"id": "app-payments", "identifier_uris": ["api://payments-v2"], "custom_security_attributes": {}}

test_blueprint_permission_under_resource_app_id if {
	inp := object.union(
		fixtures.with_blueprint({"permissions": {"app-payments": ["payments.read"]}}),
		{"request": {"resource": "api://payments-v2"}, "directory": {"resource": resource_record}},
	)
	bp := object.union(fixtures.blueprint, {"permissions": {"app-payments": ["payments.read"]}})
	r := decide(object.union(inp, {"directory": {"blueprint": object.remove(bp, ["permissions"])}}))
	r.decision == "allow"
	r.grant.scopes == ["payments.read"]
}

test_blueprint_permission_under_identifier_uri_when_requested_by_app_id if {
	bp := object.union(object.remove(fixtures.blueprint, ["permissions"]), {"permissions": {"api://payments-v2": ["payments.read"]}})
	inp := object.union(fixtures.input_base, {
		"request": {"resource": "app-payments"},
		"directory": {"resource": resource_record, "blueprint": {}},
	})
	r := decide(json.patch(inp, [{"op": "replace", "path": "/directory/blueprint", "value": bp}]))
	r.decision == "allow"
	r.grant.scopes == ["payments.read"]
}

test_unregistered_resource_name_not_permitted if {
	inp := object.union(fixtures.input_base, {"request": {"resource": "api://other"}})
	r := decide(inp)
	r.decision == "deny"
	"resource_not_permitted" in fixtures.codes(r)
}

test_blueprint_permission_under_app_id_needs_the_resource_record if {
	inp := object.union(
		fixtures.with_blueprint({"permissions": {"app-payments": ["payments.read"]}}),
		{"request": {"resource": "api://payments-v2"}},
	)
	r := decide(inp)
	r.decision == "deny"
	"resource_not_permitted" in fixtures.codes(r)
}
