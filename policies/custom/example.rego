# Example custom policy (package agent.custom), folded into every decision by
# agent.decision: `deny` entries become `custom_deny` reasons, `obligations`
# narrow the grant like a Conditional Access policy's agentControls.
package agent.custom

# Lab agents never get write scopes, whatever their blueprint allows.
deny contains {
	"code": "lab_agent_write",
	"message": concat("", [
		"Agent '", input.request.agent_id, "' runs in the lab environment and may not get write scope '", scope, "'.",
	]),
} if {
	input.directory.agent.attributes.environment == "lab"
	some scope in input.request.scopes
	endswith(scope, ".write")
}

# Tokens minted on behalf of a user who did not sign in with MFA live at most
# 15 minutes.
obligations contains {"maxTokenTtlSeconds": 900} if {
	input.request.flow == "on_behalf_of"
	not used_mfa
}

used_mfa if "mfa" in input.request.user.amr

# MCP tool calls through the gateway (input.request.mcp): agents never pay an
# invoice of 500 or more without a user present; the route's argument schema
# already caps every payment at 1,000.
deny contains {
	"code": "payment_needs_user",
	"message": "Payments of 500 or more need a user on whose behalf the agent acts.",
} if {
	input.request.mcp.method == "tools/call"
	input.request.mcp.name == "pay_invoice"
	input.request.mcp.arguments.amount >= 500
	not input.request.user.id
}
