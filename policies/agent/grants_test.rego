# Effective permissions: the blueprint's (inherited), the agent's direct
# grants and active access-package assignments add up; an assignment's scopes
# cap the token lifetime at its expiry and grant nothing from its expiry on.
package agent.grants_test

import data.agent.fixtures

now := fixtures.now

decide(inp) := fixtures.decide(inp, [])

with_grants(inp, grants) := object.union(inp, {"directory": {"grants": grants}})

entitlement(resource, scopes, exp) := {
	"assignment_id": "asg-1", "package_id": "pkg-1",
	"permissions": {resource: scopes}, "expires_at": "x", "expires_at_epoch": exp,
}

hr(scopes) := fixtures.req({"resource": "api://hr", "scopes": scopes, "requested_ttl_seconds": 3600})

test_direct_permissions_add_to_the_blueprint if {
	inp := object.union(hr(["hr.read"]), {"directory": {"agent": {"permissions": {"api://hr": ["hr.read"]}}}})
	r := decide(inp)
	r.decision == "allow"
	r.grant == {"audience": "api://hr", "scopes": ["hr.read"], "ttl_seconds": 3600}
	r.reasons == []
}

test_direct_scopes_extend_a_blueprint_resource if {
	inp := object.union(
		fixtures.req({"scopes": ["payments.read", "payments.refund"]}),
		{"directory": {"agent": {"permissions": {"api://payments": ["payments.refund"]}}}},
	)
	decide(inp).grant.scopes == ["payments.read", "payments.refund"]
}

test_without_any_permission_the_resource_is_not_permitted if {
	r := decide(hr(["hr.read"]))
	fixtures.codes(r) == ["resource_not_permitted"]
}

test_active_assignment_grants_and_caps_the_lifetime if {
	r := decide(with_grants(hr(["hr.read"]), [entitlement("api://hr", ["hr.read"], now + 600)]))
	r.decision == "allow"
	r.grant == {"audience": "api://hr", "scopes": ["hr.read"], "ttl_seconds": 600}
	fixtures.codes(r) == ["assignment_expiring"]
	r.reasons[0].policy_id == null
}

test_no_reason_when_the_assignment_outlives_the_token if {
	r := decide(with_grants(hr(["hr.read"]), [entitlement("api://hr", ["hr.read"], now + 7200)]))
	r.grant.ttl_seconds == 3600
	r.reasons == []
}

test_assignment_grants_nothing_from_its_expiry_second if {
	every exp in [now, now - 1, "9999999999", null] {
		r := decide(with_grants(hr(["hr.read"]), [entitlement("api://hr", ["hr.read"], exp)]))
		fixtures.codes(r) == ["resource_not_permitted"]
	}
	r := decide(with_grants(hr(["hr.read"]), [entitlement("api://hr", ["hr.read"], now + 1)]))
	r.grant.ttl_seconds == 1
}

test_without_now_no_assignment_grants if {
	inp := json.remove(with_grants(hr(["hr.read"]), [entitlement("api://hr", ["hr.read"], now + 600)]), ["now"])
	r := decide(inp)
	r.decision == "deny"
	"resource_not_permitted" in fixtures.codes(r)
}

test_a_scope_also_held_permanently_is_not_capped if {
	inp := with_grants(fixtures.req({"requested_ttl_seconds": 3600}), [entitlement("api://payments", ["payments.read"], now + 60)])
	r := decide(inp)
	r.grant.ttl_seconds == 3600
	r.reasons == []
}

test_latest_expiry_per_scope_then_the_earliest_scope if {
	grants := [
		entitlement("api://hr", ["hr.read"], now + 100),
		entitlement("api://hr", ["hr.read", "hr.write"], now + 900),
		entitlement("api://hr", ["hr.write"], now + 300),
		entitlement("api://hr", ["hr.admin"], now + 50),
	]
	r := decide(with_grants(hr(["hr.read", "hr.write"]), grants))

	# hr.read lasts until +900, hr.write until +900: the token 900.
	r.grant.ttl_seconds == 900
	r2 := decide(with_grants(hr(["hr.read", "hr.write", "hr.admin"]), grants))
	r2.grant.ttl_seconds == 50
	fixtures.codes(r2) == ["assignment_expiring"]
}

test_assignment_under_another_name_of_the_resource if {
	inp := object.union(
		with_grants(hr(["hr.read"]), [entitlement("app-hr", ["hr.read"], now + 600)]),
		{"directory": {"resource": {"id": "app-hr", "identifier_uris": ["api://hr"]}}},
	)
	decide(inp).grant.scopes == ["hr.read"]
}

test_conditional_access_still_narrows_assignment_scopes if {
	inp := with_grants(hr(["hr.read", "hr.write"]), [entitlement("api://hr", ["hr.read", "hr.write"], now + 600)])
	p := fixtures.policy({"grantControls": null, "agentControls": {"allowedScopes": ["hr.read"]}})
	r := fixtures.decide(inp, [p])
	r.grant.scopes == ["hr.read"]
	fixtures.codes(r) == ["scope_narrowed", "assignment_expiring"]
}

test_hostile_shapes_never_grant if {
	every g in [
		{"permissions": ["api://hr"], "expires_at_epoch": now + 600},
		{"permissions": {"api://hr": "hr.read"}, "expires_at_epoch": now + 600},
		{"permissions": {"api://hr": [["hr.read"]]}, "expires_at_epoch": now + 600},
		"api://hr",
		{"permissions": {"api://hr": ["hr.read"]}},
	] {
		r := decide(with_grants(hr(["hr.read"]), [g]))
		r.decision == "deny"
	}
	every name in ["__proto__", "constructor", "toString", "prototype"] {
		r := decide(with_grants(
			fixtures.req({"resource": name, "scopes": ["hr.read"]}),
			[entitlement("api://hr", ["hr.read"], now + 600)],
		))
		fixtures.codes(r) == ["resource_not_permitted"]
	}
	r := decide(with_grants(hr(["hr.read"]), {"api://hr": ["hr.read"]}))
	fixtures.codes(r) == ["resource_not_permitted"]
}
