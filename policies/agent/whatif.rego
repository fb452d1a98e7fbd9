# Entrypoint `agent/whatif/result`: the decide output, evaluated against the
# policies listed in input.policy_ids (all of the tenant's when absent, null
# or empty; unknown ids are ignored), each policy with its What-If
# `conditions`.
package agent.whatif

import data.agent.ca
import data.agent.decision

result := decision.build(selected, true)

selected := ca.evaluations if {
	not filtered
} else := [e | some e in ca.evaluations; e.report.id in wanted_ids]

wanted_ids := {id | some id in input.policy_ids}

filtered if count(wanted_ids) > 0
