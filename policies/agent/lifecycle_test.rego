package agent.lifecycle_test

import data.agent.fixtures as fx

finding(kind, phase, action) := {
	"kind": kind, "phase": phase, "due_epoch": fx.now - 10, "action_epoch": fx.now + 10,
	"action": action, "action_at": "2026-12-01T00:00:00Z",
}

with_findings(inp, fs) := object.union(inp, {"governance": {"lifecycle": fs}})

no_sponsor := fx.with_agent({"sponsors": []})

test_grace_allows_with_a_warning if {
	r := fx.decide(with_findings(fx.input_base, [finding("inactivity", "grace", "disable")]), [])
	r.decision == "allow"
	"lifecycle_inactive" in fx.codes(r)
}

test_grace_warning_per_kind if {
	r := fx.decide(
		with_findings(no_sponsor, [
			finding("minimumSponsors", "grace", "disable"),
			finding("sponsorReconfirmation", "grace", "delete"),
		]),
		[],
	)
	r.decision == "allow"
	fx.codes(r) == ["lifecycle_sponsors_below_minimum", "lifecycle_reconfirmation_due"]
}

test_action_denies if {
	r := fx.decide(with_findings(no_sponsor, [finding("minimumSponsors", "action", "disable")]), [])
	r.decision == "deny"
	fx.codes(r) == ["lifecycle_disabled"]
}

test_delete_and_disable_then_delete if {
	d := fx.decide(with_findings(fx.input_base, [finding("inactivity", "action", "delete")]), [])
	fx.codes(d) == ["lifecycle_deleted"]
	t := fx.decide(with_findings(fx.input_base, [finding("inactivity", "action", "disableThenDelete")]), [])
	fx.codes(t) == ["lifecycle_disabled"]
}

test_unknown_phase_fails_closed if {
	r := fx.decide(with_findings(fx.input_base, [finding("inactivity", "later", "disable")]), [])
	r.decision == "deny"
}

test_unknown_kind_still_named if {
	r := fx.decide(with_findings(fx.input_base, [finding("other", "grace", "disable")]), [])
	r.decision == "allow"
	"lifecycle_warning" in fx.codes(r)
}

test_no_sponsor_without_a_minimum_sponsors_finding if {
	r := fx.decide(with_findings(no_sponsor, [finding("inactivity", "grace", "disable")]), [])
	"agent_no_sponsor" in fx.codes(r)
}

test_no_warning_on_deny if {
	r := fx.decide(with_findings(fx.with_agent({"enabled": false}), [finding("inactivity", "grace", "disable")]), [])
	not "lifecycle_inactive" in fx.codes(r)
}
