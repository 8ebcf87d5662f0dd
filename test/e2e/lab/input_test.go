package lab_test

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gbytes"
	"github.com/onsi/gomega/gexec"

	"github.com/vfleet/vfleet/internal/portclaim"
	"github.com/vfleet/vfleet/lab"
	"github.com/vfleet/vfleet/test/framework"
)

var _ = Describe("Bad input", func() {
	It("refuses a port that is already taken, naming it, and leaves nothing running", func(ctx SpecContext) {
		// A block of ports no other lab holds and below the ephemeral
		// range, so that the only one in use is the one taken here.
		ports, release, err := portclaim.Ports(32)
		Expect(err).NotTo(HaveOccurred())
		defer release()
		port := ports[0]
		taken, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		Expect(err).NotTo(HaveOccurred())
		defer taken.Close()

		dir := GinkgoT().TempDir()
		// With the taken port as the base, the management cluster's etcd
		// wants it; the host starts in parallel and must be stopped again.
		l, err := lab.New(lab.Config{Dir: dir, Hosts: lab.DefaultHosts(1, 1), PortBase: port, VfleetBin: vfleetBin, Progress: GinkgoWriter})
		Expect(err).NotTo(HaveOccurred())
		err = l.Start(ctx)
		Expect(err).To(MatchError(ContainSubstring(fmt.Sprintf("management etcd: port 127.0.0.1:%d is already in use", port))))

		Expect(l.Pids()).To(BeEmpty())
		Expect(framework.ProcessesUsing(dir)).To(BeEmpty())
		Expect(lab.InUse(dir)).To(BeFalse(), "a failed start must release the directory")
		st, err := lab.ReadState(dir)
		Expect(err).NotTo(HaveOccurred())
		Expect(st.Phase).To(Equal(lab.PhaseFailed))
		Expect(st.Message).To(ContainSubstring("already in use"))
	}, SpecTimeout(2*time.Minute))

	It("says to run make binaries when a binary is missing", func() {
		bins := GinkgoT().TempDir()
		Expect(os.WriteFile(filepath.Join(bins, "etcd"), []byte("#!/bin/sh\n"), 0o755)).To(Succeed())
		_, err := lab.New(lab.Config{Dir: GinkgoT().TempDir(), BinDir: bins, Hosts: lab.DefaultHosts(1, 1)})
		Expect(err).To(MatchError(And(
			ContainSubstring("kube-apiserver not found in "+bins),
			ContainSubstring(`run "make binaries"`),
		)))

		By("and so does the CLI, with a non-zero exit code")
		cmd := exec.Command(vfleetBin, "lab", "up", "--dir", GinkgoT().TempDir(), "--bin-dir", bins)
		session, err := gexec.Start(cmd, GinkgoWriter, GinkgoWriter)
		Expect(err).NotTo(HaveOccurred())
		Eventually(session).WithTimeout(30 * time.Second).Should(gexec.Exit(1))
		Expect(session.Err).To(gbytes.Say(`run "make binaries"`))
	})

	It("refuses a second lab on a directory in use and leaves the running lab alone", func(ctx SpecContext) {
		second, err := lab.New(lab.Config{Dir: fleet.Dir(), Hosts: lab.DefaultHosts(1, 1), VfleetBin: vfleetBin})
		Expect(err).NotTo(HaveOccurred())
		err = second.Start(ctx)
		Expect(err).To(MatchError(lab.ErrInUse))
		Expect(err).To(MatchError(ContainSubstring(fmt.Sprintf("running lab (pid %d)", os.Getpid()))))

		By("and so does vfleet lab up")
		session, err := gexec.Start(exec.Command(vfleetBin, "lab", "up", "--dir", fleet.Dir()), GinkgoWriter, GinkgoWriter)
		Expect(err).NotTo(HaveOccurred())
		Eventually(session).WithTimeout(30 * time.Second).Should(gexec.Exit(1))
		Expect(session.Err).To(gbytes.Say("is used by a running lab"))

		st, err := lab.ReadState(fleet.Dir())
		Expect(err).NotTo(HaveOccurred())
		Expect(st.Phase).To(Equal(lab.PhaseRunning))
		client, err := fleet.Management().Client()
		Expect(err).NotTo(HaveOccurred())
		_, err = client.Discovery().ServerVersion()
		Expect(err).NotTo(HaveOccurred())
	}, SpecTimeout(time.Minute))
})
