# Entrypoint `agent/decide/result`: the decision for input.request against
# every Conditional Access policy of the request's tenant.
package agent.decide

import data.agent.ca
import data.agent.decision

result := decision.build(ca.evaluations, false)
