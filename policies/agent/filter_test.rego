package agent.filter_test

import data.agent.filter

agent := {
	"id": "agt-1", "blueprint_id": "bp-pay", "display_name": "Payments bot",
	"attributes": {"tier": "prod", "labels": ["pci", "eu"], "pii": false, "gone": null},
	"custom_security_attributes": {
		"Engineering": {"@odata.type": "#microsoft.graph.customSecurityAttributeValue", "Project": "Alpine", "Tags": ["red", "Blue"]},
	},
}

# The path the engine compiles an attribute name to (src/engine/filter-rule.ts).
path_of(attr) := ["attributes", trim_prefix(attr, "attributes.")] if {
	startswith(attr, "attributes.")
} else := ["custom_security_attributes", parts[0], parts[1]] if {
	startswith(attr, "CustomSecurityAttribute.")
	parts := split(trim_prefix(attr, "CustomSecurityAttribute."), "_")
} else := [{"blueprintId": "blueprint_id", "displayName": "display_name"}[attr]] if {
	attr in {"blueprintId", "displayName"}
} else := [attr]

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
	["attributes.tier", "notIn", ["dev", "lab"], true],
	["attributes.tier", "notIn", ["dev", "prod"], false],
	["attributes.missing", "notIn", ["prod"], true],
	["attributes.tier", "notContains", "ro", false],
	["attributes.labels", "notContains", "us", true],
	["attributes.missing", "notContains", "x", true],
	["attributes.tier", "notStartsWith", "pr", false],
	["attributes.tier", "notStartsWith", "de", true],
	["attributes.missing", "notStartsWith", "de", true],
	["CustomSecurityAttribute.Engineering_Project", "eq", "Alpine", true],
	["CustomSecurityAttribute.Engineering_Project", "eq", "alpine", false],
	["CustomSecurityAttribute.Engineering_Project", "ne", "Alpine", false],
	["CustomSecurityAttribute.Engineering_Tags", "contains", "red", true],
	["CustomSecurityAttribute.Engineering_Tags", "notContains", "red", false],
	["CustomSecurityAttribute.Engineering_Missing", "eq", "x", false],
	["CustomSecurityAttribute.Marketing_Project", "ne", "x", true],
]

# Case-insensitive atoms: the engine lower-cases the value, the attribute is
# lower-cased when compared.
test_case_insensitive_atoms if {
	filter.atom_true({"attr": "x", "path": ["custom_security_attributes", "Engineering", "Project"], "op": "eq", "value": "alpine", "ci": true}, agent)
	filter.atom_true({"attr": "x", "path": ["custom_security_attributes", "Engineering", "Tags"], "op": "contains", "value": "blue", "ci": true}, agent)
	not filter.atom_true({"attr": "x", "path": ["custom_security_attributes", "Engineering", "Tags"], "op": "contains", "value": "blue"}, agent)
	filter.atom_true({"attr": "x", "path": ["display_name"], "op": "startsWith", "value": "pay", "ci": true}, agent)
	filter.atom_true({"attr": "x", "path": ["display_name"], "op": "in", "value": ["payments bot"], "ci": true}, agent)
}

test_atoms if {
	failed := [c |
		some c in atom_cases
		got := atom_result({"attr": c[0], "path": path_of(c[0]), "op": c[1], "value": c[2]})
		got != c[3]
	]
	failed == []
}

atom_result(a) if {
	filter.atom_true(a, agent)
} else := false

test_atoms_on_an_agent_without_attributes if {
	bare := {"id": "agt-2", "blueprint_id": "bp-x"}
	not filter.atom_true({"attr": "attributes.tier", "path": ["attributes", "tier"], "op": "eq", "value": "prod"}, bare)
	filter.atom_true({"attr": "attributes.tier", "path": ["attributes", "tier"], "op": "ne", "value": "prod"}, bare)
	not filter.atom_true({"attr": "displayName", "path": ["display_name"], "op": "contains", "value": "a"}, bare)
}
