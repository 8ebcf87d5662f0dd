package vcluster_test

import (
	"github.com/onsi/gomega/gbytes"
	gomegatypes "github.com/onsi/gomega/types"
	"k8s.io/apimachinery/pkg/api/resource"
)

func gbytesSay(s string) gomegatypes.GomegaMatcher { return gbytes.Say(s) }

func resourceOf(q string) resource.Quantity { return resource.MustParse(q) }
