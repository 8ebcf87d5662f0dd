package config

import "testing"

// TestPoliciesAreBound: every shipped policy parses, and each is bound (an
// unbound policy enforces nothing) by a binding that denies.
func TestPoliciesAreBound(t *testing.T) {
	policies, bindings, err := Policies()
	if err != nil {
		t.Fatal(err)
	}
	if len(policies) == 0 {
		t.Fatal("no admission policies")
	}
	bound := map[string]bool{}
	for _, b := range bindings {
		deny := false
		for _, a := range b.Spec.ValidationActions {
			deny = deny || a == "Deny"
		}
		if !deny {
			t.Errorf("binding %s does not deny", b.Name)
		}
		bound[b.Spec.PolicyName] = true
	}
	for _, p := range policies {
		if !bound[p.Name] {
			t.Errorf("policy %s has no binding", p.Name)
		}
		if p.Spec.FailurePolicy == nil || *p.Spec.FailurePolicy != "Fail" {
			t.Errorf("policy %s must fail closed", p.Name)
		}
	}
}
