# Conditional Access evaluation against the tenant's compiled index.
#
# Semantics (DESIGN §4, as Entra): the token subject (flow) decides which
# policies apply; within a policy conditions AND together, an absent
# condition matches everything, exclusions win, "All" matches even a missing
# input, a specific value only a present one.
#
# The engine compiles each tenant's policies once per load into
# data.tenants[t].ca_index (src/engine/ca-index.ts; policies/README.md,
# "Data"): per token subject the policies that do not apply to it (`gate`,
# with the condition that says why), per policy the conditions it fails by
# default, and per condition and value the policies a request with that value
# is rescued for (named in an include list) or excluded from (named in an
# exclude list). Per request, this request's rescues and exclusions are looked
# up once per condition; per policy, the first unmatched condition (What-If
# order) is then the earlier of its first exclusion and its first default
# failure without a rescue, a handful of lookups whatever the document says.
# Grant controls, scopes, lifetimes and messages are computed only for the
# policies that apply.
#
# The output carries one small number per policy, its outcome code (an index
# into the outcome table: result and reason); the service adds the static fields (id,
# name, state, controls) from the same data.
package agent.ca

import data.agent.facts
import data.agent.filter
import data.agent.util

# Every (result, reason) a policy can report and its outcome code: the table
# in ca_outcomes/data.json (data.ca_outcomes), which src/engine/ca-outcomes.ts
# reads too. Code 0 disabled; per mode (enforced, report-only) one code per
# rank of the first unmatched condition (not applied) and one per whether the
# grant controls are satisfied (applied). Looked up, never computed: Rego
# arithmetic is slow in WASM.
table := data.ca_outcomes

disabled_code := table.disabled.code

# By mode ("enforced" | "reportOnly"): the result and, by rank, the code
# ("codes") of a policy that does not apply. Data read in place: nothing is
# built per evaluation.
not_applied := table.not_applied

# By mode, then whether the grant controls are "satisfied" or "unsatisfied":
# the result and code of a policy that applies.
applied := table.applied

satisfaction(true) := "satisfied"

satisfaction(false) := "unsatisfied"

# The codes of an enforced policy that applies: it may deny, narrow scopes and
# cap the lifetime. Report-only policies never are.
enforced_codes := {t.code | some t in table.applied.enforced}

# Enforced policies that apply with this code failed: they block, or the
# request lacks their grant controls.
enforced_failure_code := table.applied.enforced.unsatisfied.code

# --- the compiled index -------------------------------------------------------

index := util.obj(facts.tenant_data, "ca_index")

# The keys the index's maps name the policies by (their positions, as
# strings: short keys are cheap to hash) and their modes ("enforced" |
# "reportOnly" | "disabled"), in data order.
keys := util.arr(index, "keys")

modes := util.arr(index, "modes")

# Per policy, the ranks of the conditions it does not match unless one of
# the request's values rescues it, ascending.
unmatched := util.arr(index, "unmatched")

# One outcome code per policy, in data order. Undefined (so is every result
# built from it: the service fails closed) when the index does not describe
# the tenant's documents. The per-request tables are bound once, outside the
# loop: every reference to a rule costs a cache lookup in WASM.
codes := c if {
	count(keys) == count(facts.policies)
	count(unmatched) == count(keys)
	count(condition_ranks) == count(keys)
	g := gate
	res := rescued
	exc := excluded
	na := not_applied
	ac := applied
	ranks := unmatched
	m := modes
	c := [outcome(m[i], ranks[i], id, i, g, res, exc, na, ac) | some i, id in keys]
	count(c) == count(keys)
}

# A policy that is not disabled does not apply at the first condition it does
# not match (What-If order): the earlier of the first condition the request's
# values exclude it from and the first it fails by default that none of the
# request's values rescues it from. A policy that does not apply to the token
# subject says so whatever else holds.
outcome(mode, ranks, id, i, g, res, exc, na, ac) := disabled_code if {
	mode == "disabled"
} else := na[mode].codes[r] if {
	r := g[id]
} else := na[mode].codes[r] if {
	r := first_unmatched(ranks, id, res, exc)
} else := ac[mode][satisfaction(grant_satisfied(facts.policies[i]))].code

# The earlier of the rank the request's values exclude policy `id` at and
# the first of its `ranks` none of them rescues it from; undefined when
# neither.
first_unmatched(ranks, id, res, exc) := r if {
	x := exc[id]
	r := earlier(x, not_rescued_or_none(ranks, id, res))
} else := first_not_rescued(ranks, id, res)

earlier(a, b) := a if {
	a < b
} else := b

not_rescued_or_none(ranks, id, res) := r if {
	r := first_not_rescued(ranks, id, res)
} else := 99

# The first of `ranks` whose condition the request does not rescue policy
# `id` from; undefined when it rescues all (a condition has one rank, so
# there are at most 12).
first_not_rescued(ranks, id, res) := r if {
	r := ranks[0]
	not res[r][id]
} else := r if {
	r := ranks[1]
	not res[r][id]
} else := r if {
	r := ranks[2]
	not res[r][id]
} else := r if {
	r := ranks[3]
	not res[r][id]
} else := r if {
	r := ranks[4]
	not res[r][id]
} else := r if {
	r := ranks[5]
	not res[r][id]
} else := r if {
	r := ranks[6]
	not res[r][id]
} else := r if {
	r := ranks[7]
	not res[r][id]
} else := r if {
	r := ranks[8]
	not res[r][id]
} else := r if {
	r := ranks[9]
	not res[r][id]
} else := r if {
	r := ranks[10]
	not res[r][id]
} else := r if {
	r := ranks[11]
	not res[r][id]
}

# The policies that do not apply to this token subject, with the rank of the
# condition that says why (agentIdentities, users or flows).
gate := util.obj(util.obj(index, "gate"), facts.flow)

# Policy indexes of the enforced policies that apply, in data order.
enforced := [i | ec := enforced_codes; some i, c in codes; ec[c]]

# --- per condition: this request's rescues and exclusions ----------------------

# By rank: the policies a request value matches the condition of ({id: true}).
rescued := [
	{},
	agent_rescued,
	user_rescued,
	application_rescued,
	values_of("agentIdRisk", "match", facts.agent_risk),
	values_of("userRisk", "match", facts.user_risk),
	values_of("signInRisk", "match", facts.sign_in_risk),
	location_rescued,
	platform_rescued,
	client_app_rescued,
	device_rescued,
	{},
	{},
]

# By rank: the policies a request value excludes from the condition ({id: rank}).
exclusions := [
	{},
	agent_excluded,
	user_excluded,
	application_excluded,
	{},
	{},
	{},
	location_excluded,
	platform_excluded,
	{},
	device_excluded,
	{},
	{},
]

# Policy id → the earliest rank the request's values exclude it at: the union
# of `exclusions`, earliest winning (object.union keeps the right-hand value).
excluded := merge(
	merge(merge(device_excluded, platform_excluded), merge(location_excluded, application_excluded)),
	merge(user_excluded, agent_excluded),
)

# The policies (with their flag or rank) a condition's `map` holds for `value`.
values_of(name, map, value) := v if {
	v := index[name][map][value]
	is_object(v)
} else := {}

# The policies (with their flag or rank) a condition's `map` holds for any of `values`.
values_of_any(name, map, values) := {id: v | some value in values; some id, v in values_of(name, map, value)}

# object.union, skipping the copy when one side is empty (the common case).
merge(a, b) := a if {
	count(b) == 0
} else := b if {
	count(a) == 0
} else := object.union(a, b)

# The index's object `key` of condition `name` ({} when absent).
part(name, key) := util.obj(util.obj(index, name), key)

# --- agentIdentities ------------------------------------------------------------

# The names the agent goes by in a policy: its id, its blueprint's id and the
# blueprint principal's id (a blueprint stands for every agent of it).
agent_names := array.concat([facts.agent_id], [n |
	some n in [util.str(facts.agent, "blueprint_id"), facts.blueprint_principal_id]
	n != ""
])

# Rescued by a name or an include-mode filter (only with an agent record),
# excluded by a name (even without one) or an exclude-mode filter.
agent_rescued := merge(values_of_any("agentIdentities", "match", agent_names), filter_matches(agent_clauses, "agentIdentities", "match")) if {
	facts.has_agent
} else := {}

agent_excluded := merge(values_of_any("agentIdentities", "exclude", agent_names), filter_matches(agent_clauses, "agentIdentities", "exclude"))

agent_clauses := true_clauses(part("agentIdentities", "filters"), facts.agent) if {
	facts.has_agent
} else := []

# --- filters (agent, application, device) -----------------------------------------

# The clauses of a kind of filter that hold for `object`: a clause holds when
# all its atoms do. None for a token subject every policy with such a filter
# is kept from (the gate decides those policies first).
true_clauses(filters, object) := [] if {
	not filters.flows[facts.flow]
} else := [k |
	atoms := true_atoms(filters, object)
	some k, clause in util.arr(filters, "clauses")
	every j in clause {
		atoms[j]
	}
]

true_atoms(filters, object) := {j | some j, atom in util.arr(filters, "atoms"); filter.atom_true(atom, object)}

# The policies of the clauses that hold, from the filters' `match` or
# `exclude` lists.
filter_matches(clauses, name, list) := {} if {
	count(clauses) == 0
} else := {id: v |
	per_clause := util.arr(part(name, "filters"), list)
	some k in clauses
	some id, v in per_clause[k]
}

# --- users ---------------------------------------------------------------------

# Who the user is depends on the subject: on behalf of a user, the user with
# their groups, roles and guest type ("All" counts); for an agent's user
# account, the agent user ("AllAgentIdUsers" counts, "All" and groups do not).
# An agent acting on its own has no user: every users condition fails.
user_rescued := merge(
	merge(values_of("users", "match", user_id), part("users", "all_users")),
	merge(
		merge(values_of_any("users", "match_group", facts.user_groups), values_of_any("users", "match_role", facts.user_roles)),
		guest_rescued,
	),
) if {
	facts.flow == "on_behalf_of"
	facts.has_user
} else := merge(values_of("users", "match", user_id), part("users", "all_agent_users")) if {
	facts.flow == "agent_user"
	facts.has_user
} else := {}

user_excluded := merge(
	merge(values_of("users", "exclude", user_id), guest_excluded),
	merge(values_of_any("users", "exclude_group", facts.user_groups), values_of_any("users", "exclude_role", facts.user_roles)),
) if {
	facts.flow == "on_behalf_of"
	facts.has_user
} else := values_of("users", "exclude", user_id) if {
	facts.flow == "agent_user"
	facts.has_user
} else := part("users", "without_user")

# The user's id, null when the request has none (it matches no listed id).
user_id := u if {
	u := facts.user_id
} else := null

guest_rescued := merge(values_of("users", "match_guest", "*"), values_of("users", "match_guest", facts.guest_type)) if {
	facts.guest_type
} else := {}

guest_excluded := merge(values_of("users", "exclude_guest", "*"), values_of("users", "exclude_guest", facts.guest_type)) if {
	facts.guest_type
} else := {}

# --- application (target resources) ------------------------------------------------

# Rescued or excluded by any name of the resource (as requested, the
# registered resource's id and identifier URIs), by AllAgentIdResources when
# the resource is an agent identity or blueprint, or by applicationFilter
# over the registered resource's attributes.
application_rescued := merge(
	merge(values_of_any("application", "match", facts.resource_names), agent_resource_rescued),
	filter_matches(application_clauses, "application", "match"),
)

application_excluded := merge(
	merge(values_of_any("application", "exclude", facts.resource_names), agent_resource_excluded),
	filter_matches(application_clauses, "application", "exclude"),
)

agent_resource_rescued := part("application", "agent_resources") if {
	facts.resource_is_agent
} else := {}

agent_resource_excluded := part("application", "exclude_agent_resources") if {
	facts.resource_is_agent
} else := {}

application_clauses := true_clauses(part("application", "filters"), facts.resource_record)

# --- location: the client's named locations, "AllTrusted" when one of them is
# trusted, and the compliant-network location when the request came through it.
location_values := array.concat(
	[id | some id in facts.client_location_ids],
	array.concat(["AllTrusted" | facts.in_trusted_location], [compliant_network_location | facts.compliant_network]),
)

# Graph's "All Compliant Network locations".
compliant_network_location := "3d46dbda-8382-466a-856d-eb00cbc6b910"

location_rescued := values_of_any("location", "match", location_values)

location_excluded := values_of_any("location", "exclude", location_values)

# --- devicePlatform: the lower-cased platform, when the request has one.
platform_rescued := values_of("devicePlatform", "match", facts.platform) if {
	is_string(facts.platform)
} else := {}

platform_excluded := values_of("devicePlatform", "exclude", facts.platform) if {
	is_string(facts.platform)
} else := {}

# --- clientApps: the client app type, when the request has one.
client_app_rescued := values_of("clientApps", "match", facts.client_app_type) if {
	is_string(facts.client_app_type)
} else := {}

# --- devices: devices.deviceFilter over the request's device ({} when none:
# an unregistered device has no attributes).
device_clauses := true_clauses(part("devices", "filters"), facts.device)

device_rescued := filter_matches(device_clauses, "devices", "match")

device_excluded := filter_matches(device_clauses, "devices", "exclude")

# --- What-If -------------------------------------------------------------------

# Per selected policy (indexes into the tenant's policies): [its index, its
# outcome code, its What-If conditions], an array rather than an object to
# keep the output small (src/engine/ca-outcomes.ts reads it). The tables are
# bound once, outside the loop (a reference to a rule is a cache lookup in
# WASM).
explained(selected) := [[i, c[i], conditions(id, cr[i], ur[i], g, exclusions_of(id, ex, x), res, sg)] |
	c := codes
	sg := signed
	cr := condition_ranks
	ur := unmatched
	g := gate
	ex := exclusions
	x := excluded
	res := rescued
	some i in selected
	id := keys[i]
]

# The exclusions by rank when the request excludes policy `id` from some
# condition, else none: most policies then skip a lookup per condition.
exclusions_of(id, ex, x) := ex if {
	x[id]
} else := []

# A policy's What-If conditions: each condition its document sets (the
# index's `conditions`) or that keeps it from this subject, in What-If order,
# as its rank when the request matches it and the negated rank when not
# (src/engine/ca-outcomes.ts names them): small numbers keep the output small.
conditions(id, ranks, failing, g, ex, res, sg) := [sg[matched(r, id, failing, gr, ex, res)][r] |
	some r in subject_ranks(ranks, gr)
] if {
	gr := g[id]
} else := [sg[matched(r, id, failing, 0, ex, res)][r] |
	some r in ranks
]

# By whether the condition matched, then rank: the rank, or the negated rank.
signed := {
	true: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12],
	false: [0, -1, -2, -3, -4, -5, -6, -7, -8, -9, -10, -11, -12],
}

# Unmatched: the condition the subject gate names (gr; 0 when none), one the
# policy fails by default that no request value rescues it from, or one a
# request value excludes it from.
matched(r, id, failing, gr, ex, res) := false if {
	r == gr
} else := false if {
	r in failing
	not res[r][id]
} else := false if {
	ex[r][id]
} else := true

# The ranks of the conditions a policy's document sets, and the one its
# subject gate names.
subject_ranks(ranks, gr) := ranks if {
	gr in ranks
} else := sort(array.concat(ranks, [gr]))

# Per policy, the ranks of the conditions its document sets, ascending.
condition_ranks := util.arr(index, "conditions")

# --- the policies that apply ------------------------------------------------------

grant_of(p) := util.obj(p.compiled, "grant")

# The policy's requirements: its built-in controls and, when it sets one, its
# authentication strength.
controls(p) := array.concat(util.arr(grant_of(p), "controls"), ["authenticationStrength" | is_string(grant_of(p).authentication_strength)])

# " and " / " or ", to list a policy's controls in a message.
controls_joiner(p) := joiner(operator(grant_of(p)))

# The controls of policy p the caller could still satisfy and retry with.
missing_controls(p) := [c | some c in controls(p); c in satisfiable_controls; not control_ok(c, p)]

policy_name(p) := n if {
	n := p.displayName
	is_string(n)
} else := object.get(p, "id", null)

# Controls a caller can satisfy and retry with (claims challenge / step-up).
satisfiable_controls := {"mfa", "compliantDevice", "domainJoinedDevice", "authenticationStrength"}

# --- grant controls ----------------------------------------------------------

grant_satisfied(p) := grant_ok_bool(controls(p), operator(grant_of(p)), p)

# Default operator is OR, as in Graph.
operator(grant) := "AND" if {
	upper(grant.operator) == "AND"
} else := "OR"

joiner("AND") := " and "

joiner("OR") := " or "

# "block" is never satisfied and, as in Entra where Block access excludes
# every grant control, it wins over any other control in the list. No
# controls at all (session or agent controls only) is satisfied.
grant_ok_bool(controls, op, p) if {
	grant_ok(controls, op, p)
} else := false

grant_ok(controls, _, _) if {
	count(controls) == 0
}

grant_ok(controls, "AND", p) if {
	not "block" in controls
	every c in controls {
		control_ok(c, p)
	}
}

grant_ok(controls, "OR", p) if {
	not "block" in controls
	some c in controls
	control_ok(c, p)
}

control_ok("mfa", _) if "mfa" in facts.amr

control_ok("compliantDevice", _) if facts.device_compliant

control_ok("domainJoinedDevice", _) if facts.device_domain_joined

control_ok("authenticationStrength", p) if facts.strength_met[grant_of(p).authentication_strength]
