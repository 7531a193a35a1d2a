#!/usr/bin/python3
"""The Windows installer (windows-service/msi) under Wine's msiexec: install, what it put where,
the service it registered answering with the configuration it installed, uninstall; an upgrade
from an older build of the same package, and a refused downgrade.

  ZTP_MSI=build-win/windows-service/msi/zt-token-proxy-0.1.0-x64.msi \\
  ZTP_BINARY=build-win/daemon/zt-token-proxy.exe WINEPREFIX=... \\
    unshare -n sh -c 'ip link set lo up && exec /usr/bin/python3 tests/windows/test_msi.py'

The installed configuration listens on 127.0.0.1:9994 and [::1]:9994, so the test runs in a
network namespace of its own (unshare -n). As test_service.py, it restarts the wineserver of
$WINEPREFIX. Ends with "msi: N passed, N failed".
"""

import http.client
import json
import os
import re
import subprocess
import sys
import unittest

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "scenarios"))

from harness import binary_path, wait_until  # noqa: E402
from test_service import SERVICE, WineServiceTest, winpath  # noqa: E402

PORT = 9994  # the installed configuration's
OTHER_PORT = 9995  # in the test's edit of it
EXE = r"C:\Program Files\zt-token-proxy\zt-token-proxy.exe"
CONFIG = r"C:\ProgramData\zt-token-proxy\zt-token-proxy.yaml"
# The service's command line. Windows Installer quotes the program's path; Wine 8's msiexec does
# not, and Wine's CreateProcess then quotes the program it finds, so the service gets the same
# arguments.
IMAGE_PATHS = [f'"{EXE}" --service --config "{CONFIG}"', f'{EXE} --service --config "{CONFIG}"']
SERVICE_KEY = r"HKLM\SYSTEM\CurrentControlSet\Services" + "\\" + SERVICE
UNINSTALL_KEY = r"HKLM\Software\Microsoft\Windows\CurrentVersion\Uninstall"
EVENTLOG_KEY = r"HKLM\SYSTEM\CurrentControlSet\Services\EventLog\Application" + "\\" + SERVICE


def msi_path():
    """$ZTP_MSI, named zt-token-proxy-VERSION-x64.msi by windows-service/msi/meson.build."""
    return os.path.abspath(os.environ["ZTP_MSI"])


def project_version():
    return re.search(r"zt-token-proxy-(\d+\.\d+\.\d+)-x64\.msi$", msi_path()).group(1)


def unix_path(windows_path):
    """Where a C:\\ path of the Wine prefix is on Linux."""
    drive, rest = windows_path.split(":", 1)
    assert drive.upper() == "C", windows_path
    return os.path.join(os.environ["WINEPREFIX"], "drive_c", *rest.strip("\\").split("\\"))


def read(path):
    with open(path, "rb") as f:
        return f.read()


class MsiTests(WineServiceTest):
    def setUp(self):
        super().setUp()
        self.addCleanup(self.remove_everything)

    def remove_everything(self):
        """What an interrupted test leaves: the product, and a configuration an upgrade kept."""
        self.msiexec("/x")
        if os.path.exists(self.path("zt-token-proxy-0.0.1-x64.msi")):
            self.msiexec("/x", self.path("zt-token-proxy-0.0.1-x64.msi"))
        path = unix_path(CONFIG)
        if os.path.exists(path):
            os.unlink(path)
            os.rmdir(os.path.dirname(path))

    def msiexec(self, action, package=None, *props):
        """msiexec /i or /x of the package, silent, with a verbose log kept for a failure."""
        log = self.path(f"msiexec{action.replace('/', '-')}.log")
        r = self.wine("msiexec", action, winpath(package or msi_path()), *props, "/qn", "/l*v",
                      winpath(log), timeout=180)
        # Wine writes the log in ASCII, Windows in UTF-16.
        data = read(log) if os.path.exists(log) else b""
        self.msi_log = data.decode("utf-16" if data.startswith(b"\xff\xfe") else "utf-8", "replace")
        self._outputs.append((f"msiexec {action} log", self.msi_log))
        return r

    def older_package(self):
        """This package as version 0.0.1, made with build-msi.sh as meson makes the real one."""
        out = self.path("zt-token-proxy-0.0.1-x64.msi")
        msi_dir = os.path.join(REPO, "windows-service", "msi")
        r = subprocess.run([os.path.join(msi_dir, "build-msi.sh"), os.path.join(msi_dir, "zt-token-proxy.wxs"),
                            binary_path(), os.path.join(REPO, "config", "zt-token-proxy.yaml"), "0.0.1", out],
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        return out

    def installed_versions(self):
        """DisplayVersion of each installed product named zt-token-proxy (Add or remove programs)."""
        r = self.wine("reg", "query", UNINSTALL_KEY, "/s")
        return re.findall(r"DisplayName\s+REG_SZ\s+zt-token-proxy\s*\n(?:.*\n)*?\s*DisplayVersion\s+REG_SZ\s+(\S+)",
                          r.stdout.replace("\r", ""))

    def reg(self, key, value=None):
        """The data of a registry value as `reg query` shows it; None when the key or value is missing."""
        r = self.wine("reg", "query", key, *(["/v", value] if value else []))
        if r.returncode != 0:
            return None
        if value is None:
            return r.stdout
        m = re.search(r"^\s*" + re.escape(value) + r"\s+REG_\w+\s+(.*?)\s*$", r.stdout, re.M)
        return m.group(1) if m else None

    def live(self, port=PORT):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            c.request("GET", "/_proxy/health?live")
            r = c.getresponse()
            return r.status, r.read()
        except OSError:
            return None
        finally:
            c.close()

    def test_install_run_uninstall(self):
        r = self.msiexec("/i")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

        # The files, as built.
        self.assertEqual(read(unix_path(EXE)), read(binary_path()), "the installed executable")
        shipped = read(os.path.join(REPO, "config", "zt-token-proxy.yaml"))
        self.assertEqual(read(unix_path(CONFIG)), shipped, "the installed configuration")

        # The service: registered, automatic, LocalSystem, with the installed configuration, not
        # started yet; and the Event Log source pointing at the executable's message table.
        self.assertEqual(self.state(), "STOPPED")
        self.assertIn(self.reg(SERVICE_KEY, "ImagePath"), IMAGE_PATHS)
        self.assertEqual(self.reg(SERVICE_KEY, "Start"), "0x2", "SERVICE_AUTO_START")
        self.assertEqual(self.reg(SERVICE_KEY, "ObjectName"), "LocalSystem")
        self.assertEqual(self.reg(EVENTLOG_KEY, "EventMessageFile"), EXE)
        self.assertEqual(self.reg(EVENTLOG_KEY, "TypesSupported"), "0x7")
        # Restart on failure is set by sc.exe from custom actions, which must run after the
        # service is created (Wine's SCM keeps no failure actions to check beyond that).
        for action in ("ZtpRestartOnFailure", "ZtpRestartOnErrorExit"):
            self.assertRegex(self.msi_log, rf"Action ended [\d:]+: {action}\. Return value 1\.")
            self.assertLess(self.msi_log.index(f": {action}."), self.msi_log.index(": StartServices."))
            self.assertGreater(self.msi_log.index(f": {action}."), self.msi_log.index(": InstallServices."))

        # The shipped configuration is valid on Windows, and the service serves it.
        r = self.wine(EXE, "--check-config", "--config", CONFIG)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIsNone(self.live(), f"something already answers on port {PORT}")
        r = self.wine("net", "start", SERVICE)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        wait_until(lambda: self.state() == "RUNNING", 30, 0.5, msg="state RUNNING")
        wait_until(lambda: self.live() is not None, 30, 0.2, msg="the service answering")
        status, body = self.live()
        self.assertEqual((status, json.loads(body)), (200, {"status": "alive"}))
        wait_until(lambda: any("ready:" in t for _, t in self.eventlog_lines()), 10, 0.2,
                   msg="'ready' in the Event Log")

        # The service uses that file: edited (another port) and restarted, it answers there.
        edited = shipped.replace(b'  - 127.0.0.1:9994\n  - "[::1]:9994"\n', b"  - 127.0.0.1:%d\n" % OTHER_PORT)
        self.assertNotEqual(edited, shipped, "the listen addresses of config/zt-token-proxy.yaml changed")
        self.write_file(unix_path(CONFIG), edited)
        r = self.wine("net", "stop", SERVICE)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        r = self.wine("net", "start", SERVICE)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        wait_until(lambda: self.live(OTHER_PORT) is not None, 30, 0.2, msg=f"the service on port {OTHER_PORT}")
        self.assertIsNone(self.live(), f"the service answers on port {PORT} too")

        # Uninstall while it runs: stopped and removed, with its files, the configuration and
        # the registry keys.
        r = self.msiexec("/x")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertNotIn(": ZtpRestartOnFailure.", self.msi_log, "the custom action ran on uninstall")
        self.assertRegex(self.msi_log, r"Action ended [\d:]+: ZtpRemoveConfig\. Return value 1\.")
        self.assertIsNone(self.live(OTHER_PORT), "the service still answers")
        self.assertIsNone(self.state(), "the service is still registered")
        self.assertIsNone(self.reg(SERVICE_KEY), "the service's registry key is left")
        self.assertIsNone(self.reg(EVENTLOG_KEY), "the Event Log source is left")
        self.assertFalse(os.path.exists(os.path.dirname(unix_path(EXE))), "the program folder is left")
        self.assertFalse(os.path.exists(unix_path(CONFIG)), "the configuration is left")
        self.assertFalse(os.path.exists(os.path.dirname(unix_path(CONFIG))), "the configuration folder is left")

    def test_removal_by_an_upgrade_keeps_the_configuration(self):
        """Windows Installer removes the older version of a major upgrade with
        UPGRADINGPRODUCTCODE set, and then the configuration must stay. Wine's
        RemoveExistingProducts does not set it (it passes REMOVE=ALL alone: seen with
        WINEDEBUG=+msi), so here that removal is made as Windows makes it."""
        r = self.msiexec("/i")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        edited = read(unix_path(CONFIG)) + b"# edited after install\n"
        self.write_file(unix_path(CONFIG), edited)
        r = self.msiexec("/x", None, "UPGRADINGPRODUCTCODE={00000000-0000-0000-0000-000000000001}")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(self.installed_versions(), [])
        self.assertIsNone(self.state(), "the service is still registered")
        self.assertEqual(read(unix_path(CONFIG)), edited, "the configuration after the upgrade's removal")

    def test_upgrade_and_refused_downgrade(self):
        older = self.older_package()
        r = self.msiexec("/i", older)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(self.installed_versions(), ["0.0.1"])
        shipped = read(unix_path(CONFIG))
        edited = shipped + b"# edited after install\n"
        self.write_file(unix_path(CONFIG), edited)
        r = self.wine("net", "start", SERVICE)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        wait_until(lambda: self.live() is not None, 30, 0.2, msg="the old version's service answering")

        # The new version replaces the old one, service included. The service is stopped by the
        # old version's uninstall and not started by the new install. (The configuration: under
        # Wine the old version's removal runs as a full uninstall and takes it, see above.)
        r = self.msiexec("/i")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(self.installed_versions(), [project_version()])
        self.assertEqual(self.state(), "STOPPED")
        self.assertIn(self.reg(SERVICE_KEY, "ImagePath"), IMAGE_PATHS)
        self.assertEqual(read(unix_path(EXE)), read(binary_path()))
        self.assertTrue(os.path.exists(unix_path(CONFIG)), "no configuration after the upgrade")

        # The old version refuses to replace the new one.
        r = self.msiexec("/i", older)
        self.assertNotEqual(r.returncode, 0, "a downgrade was installed")
        self.assertEqual(self.installed_versions(), [project_version()])

        r = self.msiexec("/x")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(self.installed_versions(), [])
        self.assertIsNone(self.state(), "the service is still registered")


if __name__ == "__main__":
    suite = unittest.defaultTestLoader.loadTestsFromTestCase(MsiTests)
    result = unittest.TextTestRunner(verbosity=2, stream=sys.stdout).run(suite)
    failed = len(result.failures) + len(result.errors)
    print(f"msi: {result.testsRun - failed} passed, {failed} failed")
    sys.exit(1 if failed else 0)
