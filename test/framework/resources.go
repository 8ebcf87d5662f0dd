package framework

import "k8s.io/apimachinery/pkg/api/resource"

func resourceMilli(m int64) *resource.Quantity {
	return resource.NewMilliQuantity(m, resource.DecimalSI)
}

func resourceMi(mi int64) *resource.Quantity { return resource.NewQuantity(mi<<20, resource.BinarySI) }
