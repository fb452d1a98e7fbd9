# Entrypoint `agent/whatif/result`: the decide output, evaluated against the
# policies listed in input.policy_ids (all of the tenant's when absent, null
# or empty; unknown ids are ignored), each policy with its What-If
# `conditions`.
package agent.whatif

import data.agent.ca
import data.agent.decision
import data.agent.facts

# Each selected policy: its index in the tenant's policies, its outcome code
# and its What-If conditions (agent.ca.explained). Undefined, like
# agent/decide/result, when agent.ca has no codes.
result := decision.build(enforced, ca.explained(selected)) if is_array(ca.codes)

# Policy indexes, in data order.
selected := [i | some i, _ in ca.keys] if {
	not filtered
} else := [i | some i, p in facts.policies; wanted_ids[p.id]]

enforced := ca.enforced if {
	not filtered
} else := [i | some i in selected; ca.enforced_codes[ca.codes[i]]]

wanted_ids := {id | some id in input.policy_ids}

filtered if count(wanted_ids) > 0
