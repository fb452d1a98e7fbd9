package agent.filter_test

import data.agent.filter

agent := {
	"id": "agt-1", "blueprint_id": "bp-pay", "display_name": "Payments bot",
	"attributes": {"tier": "prod", "labels": ["pci", "eu"], "pii": false, "gone": null},
}

# [attr, op, value, want]
atom_cases := [
	["attributes.tier", "eq", "prod", true],
	["attributes.tier", "eq", "dev", false],
	["attributes.missing", "eq", "prod", false],
	["attributes.gone", "eq", "prod", false],
	["attributes.pii", "eq", false, true],
	["attributes.tier", "ne", "dev", true],
	["attributes.tier", "ne", "prod", false],
	["attributes.missing", "ne", "prod", true],
	["attributes.gone", "ne", "prod", true],
	["attributes.pii", "ne", true, true],
	["attributes.pii", "ne", false, false],
	["attributes.tier", "startsWith", "pr", true],
	["attributes.tier", "startsWith", "de", false],
	["attributes.missing", "startsWith", "pr", false],
	["attributes.labels", "startsWith", "pc", false],
	["attributes.tier", "in", ["dev", "prod"], true],
	["attributes.tier", "in", ["dev", "lab"], false],
	["attributes.tier", "in", "prod", false],
	["attributes.missing", "in", ["prod"], false],
	["attributes.tier", "contains", "ro", true],
	["attributes.tier", "contains", "xx", false],
	["attributes.labels", "contains", "pci", true],
	["attributes.labels", "contains", "us", false],
	["attributes.missing", "contains", "pci", false],
	["blueprintId", "eq", "bp-pay", true],
	["blueprintId", "ne", "bp-lab", true],
	["displayName", "startsWith", "Pay", true],
	["displayName", "eq", "payments bot", false],
	["attributes.tier", "matches", "prod", false],
	["owner", "eq", "x", false],
	["owner", "ne", "x", true],
]

test_atoms if {
	failed := [c |
		some c in atom_cases
		got := atom_result({"attr": c[0], "op": c[1], "value": c[2]})
		got != c[3]
	]
	failed == []
}

atom_result(a) if {
	filter.atom_true(a, agent)
} else := false

test_atoms_on_an_agent_without_attributes if {
	bare := {"id": "agt-2", "blueprint_id": "bp-x"}
	not filter.atom_true({"attr": "attributes.tier", "op": "eq", "value": "prod"}, bare)
	filter.atom_true({"attr": "attributes.tier", "op": "ne", "value": "prod"}, bare)
	not filter.atom_true({"attr": "displayName", "op": "contains", "value": "a"}, bare)
}

atom_eq(attr, v) := {"attr": attr, "op": "eq", "value": v}

test_dnf if {
	# any clause with all atoms true
	filter.matches([[atom_eq("attributes.tier", "dev")], [atom_eq("attributes.tier", "prod"), atom_eq("blueprintId", "bp-pay")]], agent)

	# one false atom fails its clause
	not filter.matches([[atom_eq("attributes.tier", "prod"), atom_eq("blueprintId", "bp-lab")]], agent)

	# no clauses: no match; a non-array clause is ignored
	not filter.matches([], agent)
	not filter.matches(["junk"], agent)

	# an empty clause is vacuously true
	filter.matches([[]], agent)
}
