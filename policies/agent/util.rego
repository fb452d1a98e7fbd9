# Small, total helpers shared by the agent.* packages.
#
# Every helper returns a value for any argument (never undefined), so callers
# can build outputs without guarding each field. Nothing here reads input or
# data.
package agent.util

# Risk levels in Entra's order.
level_rank := {"none": 0, "low": 1, "medium": 2, "high": 3}

levels_by_rank := ["none", "low", "medium", "high"]

# norm_level normalises a risk level: a known level (any case) is returned in
# lower case, null or "" is "none" (a missing risk record is level none), and
# anything else present is "high": an unknown value never lowers the risk.
norm_level(x) := l if {
	is_string(x)
	l := lower(x)
	level_rank[l] >= 0
} else := "none" if {
	x in {null, ""}
} else := "high"

# max_level returns the higher of two normalised levels.
max_level(a, b) := levels_by_rank[max([level_rank[a], level_rank[b]])]

# arr returns o[k] when o is an object and o[k] an array, else [].
arr(o, k) := v if {
	v := o[k]
	is_array(v)
} else := []

# obj returns o[k] when o is an object and o[k] an object, else {}.
obj(o, k) := v if {
	v := o[k]
	is_object(v)
} else := {}

# has_obj: o[k] is an object (a condition the document sets); true or false.
has_obj(o, k) if {
	is_object(o[k])
} else := false

# str returns o[k] when it is a string, else "".
str(o, k) := v if {
	v := o[k]
	is_string(v)
} else := ""

# has_all: the list holds "All" (Graph spells it "All", platforms "all").
has_all(xs) if {
	some x in xs
	is_string(x)
	lower(x) == "all"
}

# dedupe keeps the first occurrence of each element, in order.
dedupe(xs) := [x | some i, x in xs; not seen_before(xs, i, x)]

seen_before(xs, i, x) if {
	some j, y in xs
	j < i
	y == x
}

# join renders a list of strings for a message: "a, b".
join(xs) := concat(", ", xs)

# to_text renders any value for a message.
to_text(x) := x if {
	is_string(x)
} else := json.marshal(x)
