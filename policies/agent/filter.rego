# Filter rules (agentIdServicePrincipalFilter, applicationFilter,
# devices.deviceFilter), as compiled by the engine (src/engine/filter-rule.ts)
# into atoms of disjunctive normal form:
#
#   {"attr": <as written>, "path": [<key>, ...], "op": <operator>,
#    "value": <string> | <boolean> | [<string>, ...], "ci": true?}
#
# `path` locates the value in the object the filter runs against (agent
# record, registered resource, the request's device). A missing attribute
# makes the positive operators (eq, in, contains, startsWith) false and the
# negative ones (ne, notIn, notContains, notStartsWith) true, as Graph treats
# an object without the attribute. `ci`: compare case-insensitively (the
# engine lower-cased the value). An unknown op makes the atom false.
package agent.filter

negated := {"ne": "eq", "notIn": "in", "notContains": "contains", "notStartsWith": "startsWith"}

atom_true(atom, obj) if {
	not negated[atom.op]
	positive(atom.op, atom, obj)
}

atom_true(atom, obj) if {
	op := negated[atom.op]
	not positive(op, atom, obj)
}

# value(path, obj): undefined when missing or null.
value(path, obj) := v if {
	v := object.get(obj, path, null)
	v != null
}

# The attribute's value as compared: lower-cased strings for a ci atom.
compared(atom, obj) := v if {
	not atom.ci == true
	v := value(atom.path, obj)
} else := lower(v) if {
	v := value(atom.path, obj)
	is_string(v)
} else := [lower(x) | some x in v; is_string(x)] if {
	v := value(atom.path, obj)
	is_array(v)
} else := v if {
	v := value(atom.path, obj)
}

positive("eq", atom, obj) if compared(atom, obj) == atom.value

# eq on a multi-valued attribute: one of its values.
positive("eq", atom, obj) if {
	v := compared(atom, obj)
	is_array(v)
	atom.value in v
}

positive("in", atom, obj) if {
	v := compared(atom, obj)
	is_array(atom.value)
	v in atom.value
}

positive("in", atom, obj) if {
	v := compared(atom, obj)
	is_array(v)
	is_array(atom.value)
	some x in v
	x in atom.value
}

# contains: substring of a string attribute, or element of a multi-valued one.
positive("contains", atom, obj) if {
	v := compared(atom, obj)
	is_string(v)
	is_string(atom.value)
	contains(v, atom.value)
}

positive("contains", atom, obj) if {
	v := compared(atom, obj)
	is_array(v)
	atom.value in v
}

positive("startsWith", atom, obj) if {
	v := compared(atom, obj)
	is_string(v)
	is_string(atom.value)
	startswith(v, atom.value)
}
