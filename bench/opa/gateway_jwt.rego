# The OPA-server peer for /v1/authorize: the same gateway policy, with the JWT verified in Rego
# (io.jwt.decode_verify) as an OPA deployment would have to, then mapped to the same token shape.
package bench.gateway

import rego.v1

verified := [valid, header, payload] if {
	[valid, header, payload] := io.jwt.decode_verify(input.jwt, {
		"cert": input.jwks,
		"iss": input.issuer,
		"aud": "api://payments",
		"time": input.now.epoch_seconds * 1000000000,
	})
}

token := {
	"issuer": verified[2].iss,
	"agent_id": verified[2].azp,
	"audiences": [verified[2].aud],
	"scopes": [],
	"roles": verified[2].roles,
	"user_id": null,
	"iat": verified[2].iat,
	"exp": verified[2].exp,
	"parent_blueprint": null,
} if verified[0]

result := r if {
	verified[0]
	r := data.agent.gateway.result with input.token as token
}

result := {"decision": "deny", "status": 401} if not verified[0]
