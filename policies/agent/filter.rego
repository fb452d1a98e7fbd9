# agentIdServicePrincipalFilter, as compiled by the engine into disjunctive
# normal form: the filter matches when ANY clause has ALL its atoms true.
#
#   {"attr": "attributes.<name>" | "blueprintId" | "displayName",
#    "op": "eq" | "ne" | "startsWith" | "in" | "contains",
#    "value": <string> | [<string>, ...] (for "in")}
#
# A missing attribute makes eq/startsWith/in/contains false and ne true.
# An unknown attr or op makes the atom false. Comparisons are exact
# (case-sensitive), as the engine hands them over.
package agent.filter

# matches(dnf, agent): dnf is the compiled list of clauses.
matches(dnf, agent) if {
	some clause in dnf
	is_array(clause)
	every atom in clause {
		atom_true(atom, agent)
	}
}

# value(attr, agent) is undefined when the attribute is missing.
value(attr, agent) := v if {
	startswith(attr, "attributes.")
	v := agent.attributes[trim_prefix(attr, "attributes.")]
	v != null
}

value("blueprintId", agent) := v if {
	v := agent.blueprint_id
	v != null
}

value("displayName", agent) := v if {
	v := agent.display_name
	v != null
}

# present is an assignment, not a test, so a `false` attribute is present too.
present(attr, agent) if {
	_ := value(attr, agent)
}

atom_true(atom, agent) if {
	atom.op == "eq"
	value(atom.attr, agent) == atom.value
}

atom_true(atom, agent) if {
	atom.op == "ne"
	not present(atom.attr, agent)
}

atom_true(atom, agent) if {
	atom.op == "ne"
	value(atom.attr, agent) != atom.value
}

atom_true(atom, agent) if {
	atom.op == "startsWith"
	v := value(atom.attr, agent)
	is_string(v)
	is_string(atom.value)
	startswith(v, atom.value)
}

atom_true(atom, agent) if {
	atom.op == "in"
	v := value(atom.attr, agent)
	is_array(atom.value)
	v in atom.value
}

# contains: substring of a string attribute, or element of an array attribute.
atom_true(atom, agent) if {
	atom.op == "contains"
	v := value(atom.attr, agent)
	is_string(v)
	is_string(atom.value)
	contains(v, atom.value)
}

atom_true(atom, agent) if {
	atom.op == "contains"
	v := value(atom.attr, agent)
	is_array(v)
	atom.value in v
}
