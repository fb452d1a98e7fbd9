# Entrypoint `agent/decide/result`: the decision for input.request against
# every Conditional Access policy of the request's tenant.
package agent.decide

import data.agent.ca
import data.agent.decision

result := decision_for_request

# The same document as a plain rule, for agent.gateway to evaluate with the
# route's resource and scopes. A rule that depends on an entrypoint becomes an
# entrypoint itself in `opa build -t wasm`, so the gateway refers to this one.
#
# `policies` is one outcome code per tenant policy, in data order (agent.ca).
decision_for_request := decision.build(ca.enforced, ca.codes)
