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

device_compliant if user.device.compliant == true

# Lower-cased device platform; undefined when not sent.
platform := lower(p) if {
	p := user.device.platform
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

# --- risk ------------------------------------------------------------------

agent_risk := util.norm_level(l) if {
	l := signals.agent_risk.level
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
	some c in util.arr(loc, "countries")
	is_string(c)
	upper(c) == client_country
}

# The client is in at least one trusted named location. An unknown client IP
# or country is never trusted.
in_trusted_location if {
	some loc in named_locations
	loc.trusted == true
	loc.id in client_location_ids
}
