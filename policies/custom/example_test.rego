package agent.custom_test

import data.agent.custom
import data.agent.fixtures as fx

lab := object.union(fx.input_base, {
	"directory": {"agent": {"attributes": {"environment": "lab"}}},
	"request": {"scopes": ["payments.read", "payments.write"]},
})

decide(inp) := r if {
	r := data.agent.decide.result with input as inp
		with data.tenants as {}
		with data.pdp as fx.pdp
}

test_lab_agent_write_denied if {
	custom.deny == {{
		"code": "lab_agent_write",
		"message": "Agent 'agt-1' runs in the lab environment and may not get write scope 'payments.write'.",
	}} with input as lab
	r := decide(lab)
	r.decision == "deny"
	r.reasons == [{
		"code": "custom_deny",
		"custom_code": "lab_agent_write",
		"message": "Agent 'agt-1' runs in the lab environment and may not get write scope 'payments.write'.",
		"policy_id": null,
	}]
}

test_lab_agent_read_allowed if {
	r := decide(object.union(lab, {"request": {"scopes": ["payments.read"]}}))
	r.decision == "allow"
}

test_prod_agent_write_allowed if {
	r := decide(fx.req({"scopes": ["payments.write"]}))
	r.decision == "allow"
	count(custom.deny) == 0 with input as fx.req({"scopes": ["payments.write"]})
}

test_obo_without_mfa_capped_to_900 if {
	r := decide(fx.obo({"user": {"amr": ["pwd"]}}))
	r.grant.ttl_seconds == 900
	custom.obligations == {{"maxTokenTtlSeconds": 900}} with input as fx.obo({"user": {"amr": ["pwd"]}})
}

test_obo_with_mfa_not_capped if {
	decide(fx.obo({})).grant.ttl_seconds == 3600
}

test_autonomous_not_capped if {
	decide(fx.input_base).grant.ttl_seconds == 3600
}

pay(amount, user) := object.union(fx.input_base, {"request": object.union(
	{"mcp": {"method": "tools/call", "name": "pay_invoice", "arguments": {"id": "INV-1", "amount": amount}}},
	user,
)})

test_large_payment_without_user_denied if {
	custom.deny == {{
		"code": "payment_needs_user",
		"message": "Payments of 500 or more need a user on whose behalf the agent acts.",
	}} with input as pay(500, {})
}

test_small_payment_or_with_user_allowed if {
	count(custom.deny) == 0 with input as pay(499, {})
	count(custom.deny) == 0 with input as pay(900, {"user": {"id": "u-42"}})
}
