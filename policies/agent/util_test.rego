package agent.util_test

import data.agent.util

test_norm_level if {
	util.norm_level("High") == "high"
	util.norm_level("none") == "none"
	util.norm_level(null) == "none"
	util.norm_level("") == "none"
	util.norm_level("hidden") == "high"
	util.norm_level(3) == "high"
}

test_max_level if {
	util.max_level("low", "high") == "high"
	util.max_level("medium", "none") == "medium"
	util.max_level("none", "none") == "none"
}

test_accessors if {
	util.arr({"a": [1]}, "a") == [1]
	util.arr({"a": "x"}, "a") == []
	util.arr(null, "a") == []
	util.obj({"a": {"b": 1}}, "a") == {"b": 1}
	util.obj({"a": null}, "a") == {}
	util.has_obj({"a": {}}, "a") == true
	util.has_obj({"a": null}, "a") == false
	util.has_obj({}, "a") == false
	util.str({"a": "x"}, "a") == "x"
	util.str({"a": 1}, "a") == ""
}

test_has_all if {
	util.has_all(["x", "All"])
	util.has_all(["all"])
	not util.has_all(["AllTrusted", 1])
	not util.has_all([])
}

test_dedupe_keeps_first_occurrence_order if {
	util.dedupe(["b", "a", "b", "c", "a"]) == ["b", "a", "c"]
	util.dedupe([]) == []
}

test_text if {
	util.join(["a", "b"]) == "a, b"
	util.to_text("x") == "x"
	util.to_text(12) == "12"
	util.to_text(null) == "null"
}
