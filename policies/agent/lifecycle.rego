# Lifecycle policies (src/governance/lifecycle.ts computes the findings from
# the agent's dates, its activity and `now`; input.governance.lifecycle).
# While an agent is in a policy's grace period decisions allow and warn; after
# it the action applies: the agent is treated as disabled (or deleted) at once,
# whether or not the lifecycle worker has written that to the directory yet.
package agent.lifecycle

import data.agent.facts

findings := [f |
	some f in object.get(object.get(input, "governance", {}), "lifecycle", [])
	is_object(f)
]

default below_minimum_sponsors := false

# The minimum-sponsors policy covers this agent (in grace or acting):
# agent_no_sponsor is then not reported on its own.
below_minimum_sponsors if {
	some f in findings
	f.kind == "minimumSponsors"
}

# Fail closed: any phase other than grace acts.
deny_reasons := [reason(f) | some f in findings; f.phase != "grace"]

warnings := [warning(f) | some f in findings; f.phase == "grace"]

action_code("delete") := "lifecycle_deleted"

action_code(a) := "lifecycle_disabled" if a != "delete"

verb("delete") := "deleted"

verb(a) := "disabled" if a != "delete"

what("minimumSponsors") := "has fewer sponsors than its tenant requires"

what("sponsorReconfirmation") := "has not had its sponsorship reconfirmed in time"

what("inactivity") := "has been granted no token for longer than its tenant allows"

warning_code("minimumSponsors") := "lifecycle_sponsors_below_minimum"

warning_code("sponsorReconfirmation") := "lifecycle_reconfirmation_due"

warning_code("inactivity") := "lifecycle_inactive"

text(x) := x if {
	is_string(x)
} else := "?"

reason(f) := {
	"code": action_code(f.action),
	"message": concat("", [
		"Agent '", facts.agent_id, "' ", what_text(f.kind), "; the grace period ended at ",
		text(f.action_at), ", so it is ", verb(f.action), " (lifecycle policy ", text(f.kind), ").",
	]),
	"policy_id": null,
}

warning(f) := {
	"code": warning_code_text(f.kind),
	"message": concat("", [
		"Agent '", facts.agent_id, "' ", what_text(f.kind), "; it will be ", verb(f.action),
		" at ", text(f.action_at), " (lifecycle policy ", text(f.kind), ").",
	]),
	"policy_id": null,
}

what_text(k) := w if {
	w := what(k)
} else := "fails a lifecycle policy"

warning_code_text(k) := c if {
	c := warning_code(k)
} else := "lifecycle_warning"
