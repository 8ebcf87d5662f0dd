package syncer

import (
	"strings"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

func lower(s string) string { return strings.ToLower(s) }

func ptrUID(obj client.Object) *types.UID {
	uid := obj.GetUID()
	return &uid
}
