# Facts derived once per decision from `input` and the tenant's data.
#
# Complete rules are evaluated at most once per evaluation (also in WASM), so
# everything the per-policy loop needs repeatedly is computed here, once.
# Optional values that a condition must see as "missing" (client IP, country,
# platform, user id) are left undefined instead of defaulted.
package agent.facts

import data.agent.util

request := r if {
	r := input.request
	is_object(r)
} else := {}

signals := s if {
	s := input.signals
	is_object(s)
} else := {}

tenant := t if {
	t := request.tenant
	is_string(t)
	t != ""
} else := "default"

agent_id := util.str(request, "agent_id")

flow := util.str(request, "flow")

resource := util.str(request, "resource")

# --- directory -------------------------------------------------------------

has_agent if is_object(input.directory.agent)

agent := input.directory.agent if {
	has_agent
} else := {}

has_blueprint if is_object(input.directory.blueprint)

blueprint := input.directory.blueprint if {
	has_blueprint
} else := {}

# The request's scopes, strings only, first occurrence kept, request order.
requested_scopes := util.dedupe([s | some s in util.arr(request, "scopes"); is_string(s)])

# --- user and client -------------------------------------------------------

has_user if is_object(request.user)

user := request.user if {
	has_user
} else := {}

user_id := u if {
	u := user.id
	is_string(u)
}

amr := {m | some m in util.arr(user, "amr")}

# The built-in authentication strengths the user's sign-in meets, from its
# amr (RFC 8176 values as Entra emits them): phishing-resistant methods are
# FIDO2 / hardware-bound keys ("fido", "hwk") and smart cards ("sc");
# passwordless MFA is one of those or MFA without a password; MFA is "mfa"
# or any of those.
phishing_resistant_amr := {"fido", "hwk", "sc"}

default phishing_resistant := false

phishing_resistant if {
	some m in amr
	m in phishing_resistant_amr
}

strength_met contains "phishingResistantMfa" if phishing_resistant

strength_met contains "passwordlessMfa" if phishing_resistant

strength_met contains "passwordlessMfa" if {
	"mfa" in amr
	not "pwd" in amr
}

strength_met contains "mfa" if "mfa" in amr

strength_met contains "mfa" if phishing_resistant

# Group and role (template) ids the issuer read from the user's token.
user_groups := [g | some g in util.arr(user, "groups"); is_string(g)]

user_roles := [r | some r in util.arr(user, "roles"); is_string(r)]

# Graph's guestOrExternalUserTypes value for a guest; undefined for a member.
guest_type := t if {
	t := user.guest_type
	is_string(t)
	t != ""
}

# The request's device ({} when not sent): device filters run against it.
device := util.obj(user, "device")

device_compliant if device.compliant == true

# Hybrid-joined (domain-joined) devices: Graph trustType "ServerAD".
device_domain_joined if device.trust_type == "ServerAD"

# Lower-cased device platform; undefined when not sent.
platform := lower(p) if {
	p := device.platform
	is_string(p)
	p != ""
}

client := util.obj(request, "client")

client_ip := ip if {
	ip := client.ip
	is_string(ip)
	ip != ""
}

client_country := upper(c) if {
	c := client.country
	is_string(c)
	c != ""
}

# Graph clientAppTypes value of the client; undefined when not sent.
client_app_type := t if {
	t := client.app_type
	is_string(t)
	t != ""
}

default compliant_network := false

compliant_network if client.compliant_network == true

# --- risk ------------------------------------------------------------------

# The agent's risk (DESIGN §4): the highest of the agent identity's, its
# blueprint principal's (blueprint risk covers every agent of the blueprint)
# and, for a token of the agent's user account, the agent user's.
agent_risk := util.max_level(
	util.max_level(risk_of(object.get(signals, "agent_risk", null)), risk_of(object.get(signals, "blueprint_risk", null))),
	agent_user_risk,
)

agent_user_risk := risk_of(object.get(signals, "agent_user_risk", null)) if {
	flow == "agent_user"
} else := "none"

# A risk record's effective level: a risk confirmed safe, remediated or
# dismissed is no risk, whatever level it still carries (Graph riskState).
risk_of(r) := "none" if {
	r.state in {"confirmedSafe", "remediated", "dismissed"}
} else := util.norm_level(l) if {
	l := r.level
} else := "none"

stored_user_risk := util.norm_level(l) if {
	l := signals.user_risk.level
} else := "none"

request_user_risk := util.norm_level(l) if {
	l := user.risk
} else := "none"

# The higher of what the issuer saw and the stored risk:user signal.
user_risk := util.max_level(request_user_risk, stored_user_risk)

sign_in_risk := util.norm_level(l) if {
	l := client.sign_in_risk
} else := "none"

default revoked := false

revoked if is_object(signals.revocation)

default degraded := false

degraded if signals.degraded == true

default unavailable := false

unavailable if signals.unavailable == true

signals_out := {
	"agent_risk": agent_risk,
	"user_risk": user_risk,
	"revoked": revoked,
	"degraded": degraded,
}

# --- time and configuration ------------------------------------------------

now := n if {
	n := input.now.epoch_seconds
	is_number(n)
}

default_ttl := n if {
	n := data.pdp.config.default_ttl_seconds
	is_number(n)
} else := 3600

max_ttl := n if {
	n := data.pdp.config.max_ttl_seconds
	is_number(n)
} else := 86400

# --- tenant data -----------------------------------------------------------

# Only this tenant's document is read: no loop over tenants.
tenant_data := t if {
	t := data.tenants[tenant]
	is_object(t)
} else := {}

policies := util.arr(tenant_data, "policies")

named_locations := util.arr(tenant_data, "named_locations")

# Ids of the named locations the client is in, by IP range (IPv4 or IPv6)
# or by country. Computed once; conditions only test membership.
client_location_ids contains loc.id if {
	some loc in named_locations
	in_location(loc)
}

in_location(loc) if {
	some cidr in util.arr(loc, "ipRanges")
	net.cidr_contains(cidr, client_ip)
}

in_location(loc) if {
	some c in util.arr(loc, "countriesAndRegions")
	is_string(c)
	upper(c) == client_country
}

# "Include unknown countries/regions": a client whose country is not known.
in_location(loc) if {
	loc.includeUnknownCountriesAndRegions == true
	not client_country
}

# The client is in at least one trusted named location. An unknown client IP
# or country is never trusted.
in_trusted_location if {
	some loc in named_locations
	loc.isTrusted == true
	loc.id in client_location_ids
}

# The blueprint principal's object id ("" when unknown): policies may name
# a blueprint by it.
blueprint_principal_id := util.str(blueprint, "principal_id")

# --- directory: agent user and resource

default has_agent_user := false

has_agent_user if is_object(input.directory.agent_user)

agent_user := input.directory.agent_user if {
	has_agent_user
} else := {}

default has_resource_record := false

has_resource_record if is_object(input.directory.resource)

resource_record := input.directory.resource if {
	has_resource_record
} else := {}

# The names the requested resource goes by: as requested, and the registered
# resource's id and identifier URIs.
resource_names := util.dedupe(array.concat([resource], array.concat(
	[i | i := resource_record.id; is_string(i)],
	[u | some u in util.arr(resource_record, "identifier_uris"); is_string(u)],
)))

default resource_is_agent := false

resource_is_agent if is_object(input.directory.resource_agent)
