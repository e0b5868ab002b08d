#!/usr/bin/env python3
"""The dashboard in a real browser (run through scripts/dashboard-test).

Starts `kairos serve` on a free port with a scratch database, drives Debian's chromium
(headless) through chromium-driver and Selenium, and checks what a user does: enter a key,
create a simulation from the catalog, play it, watch the chart and the tick counter, submit a
decree and see it in the log and as a marker, reload and see the same history, create from
JSON (validation errors next to the field; an agent named `<img src=x onerror=alert(1)>` shown
as text), the large-type option, and no CSP violation or script error. It then measures time
to first paint, the page's total bytes and the frame time while a 98 000-tick simulation plays
at 100 ticks/s (and again for a fork of it with its origin's line overlaid), and writes them to
figures.json beside the screenshots. Forks are compared with their origin: the overlay, where
the branches part (checked against the two traces from the API), the toggle.

Exit status 0 when every check passed; each failure is printed with what was seen.
"""
import argparse
import hashlib
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

from selenium import webdriver
from selenium.common.exceptions import NoAlertPresentException, StaleElementReferenceException, TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select, WebDriverWait

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
XSS = "<img src=x onerror=alert(1)>"

failures = []


def check(condition, message):
    print(("  ok   " if condition else "  FAIL ") + message, flush=True)
    if not condition:
        failures.append(message)
    return condition


# MARK: the server

def create_key(binary, db, *options):
    out = subprocess.run([binary, "keys", "create", "--db", db, *options], check=True, capture_output=True, text=True).stdout
    return out.strip().splitlines()[-1]


def start_server(binary, db, port=0):
    """`kairos serve` on `port` (0: a free one); its output goes to a file beside the database
    (a pipe nobody reads would fill and stall it)."""
    log_path = f"{db}.serve-{time.monotonic_ns()}.log"
    log = open(log_path, "w")
    server = subprocess.Popen([binary, "serve", "--db", db, "--port", str(port), "--log-level", "warning"],
                              stdout=log, stderr=subprocess.STDOUT, text=True)
    log.close()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with open(log_path) as f:
            match = re.search(r"listening on http://127\.0\.0\.1:(\d+)", f.read())
        if match:
            return server, int(match.group(1))
        if server.poll() is not None:
            break
        time.sleep(0.05)
    server.terminate()
    with open(log_path) as f:
        sys.exit(f"dashboard-test: kairos serve did not start: {f.read()[-2000:]!r}")


class API:
    def __init__(self, base, key):
        self.base, self.key = base, key

    def request(self, method, path, body=None, accept="application/json"):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base + path, data=data, method=method,
                                         headers={"X-Api-Key": self.key, "Accept": accept, "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, dict(response.headers), response.read()

    def json(self, method, path, body=None):
        return json.loads(self.request(method, path, body)[2])


# MARK: the browser

def browser(output):
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for argument in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1440,1500",
                     "--disable-gpu", "--no-first-run", "--disable-extensions", f"--user-data-dir={output}/profile"]:
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(executable_path=shutil.which("chromedriver")), options=options)


def wait(driver, condition, seconds, message):
    try:
        # The page re-renders rows and logs while it is read: a stale element is tried again.
        result = WebDriverWait(driver, seconds, poll_frequency=0.1,
                               ignored_exceptions=[StaleElementReferenceException]).until(lambda d: condition(d))
        check(True, message)
        return result
    except TimeoutException:
        check(False, f"{message} (waited {seconds} s)")
        return None


def text(driver, element_id):
    return driver.find_element(By.ID, element_id).text


def data(driver, element_id, name):
    value = driver.find_element(By.ID, element_id).get_attribute("data-" + name)
    return int(value) if value not in (None, "") else None


def points(driver):
    return driver.execute_script("return Number(document.getElementById('stability-chart').parentElement.dataset.points || 0)")


def figure_data(driver, name):
    return driver.execute_script(f"return document.getElementById('stability-chart').parentElement.dataset[{json.dumps(name)}]")


def shoot(driver, output, name):
    path = os.path.join(output, name)
    driver.save_screenshot(path)
    print(f"  screenshot {path}")
    return path


def alert_present(driver):
    try:
        driver.switch_to.alert
        return True
    except NoAlertPresentException:
        return False


def browser_log(driver):
    return driver.get_log("browser")


# MARK: the checks

# Console lines a server restart causes (requests while it is down, the stream it ended).
RESTART_NOISE = re.compile(r"ERR_CONNECTION_REFUSED|ERR_EMPTY_RESPONSE|ERR_INCOMPLETE_CHUNKED_ENCODING|ERR_CONNECTION_RESET|Failed to fetch")


def run(base, api, output, skip_perf, restart=None, community_key=None):
    figures = {}
    driver = browser(output)
    console = []
    try:
        driver.set_script_timeout(120)
        # First visit: paint time and bytes.
        driver.get(base + "/dashboard")
        wait(driver, lambda d: d.execute_script("return document.body.dataset.ready === '1'"), 20, "the page starts")
        timing = driver.execute_script("""
            const nav = performance.getEntriesByType('navigation')[0];
            const paint = Object.fromEntries(performance.getEntriesByType('paint').map(p => [p.name, p.startTime]));
            const files = [nav, ...performance.getEntriesByType('resource').filter(r => new URL(r.name).pathname.startsWith('/dashboard'))];
            return {firstPaint: paint['first-paint'], firstContentfulPaint: paint['first-contentful-paint'],
                    domContentLoaded: nav.domContentLoadedEventEnd, load: nav.loadEventEnd,
                    files: files.map(f => ({name: new URL(f.name).pathname, transfer: f.transferSize, body: f.decodedBodySize}))};""")
        figures["firstPaintMs"] = round(timing["firstPaint"] or -1, 1)
        figures["firstContentfulPaintMs"] = round(timing["firstContentfulPaint"] or -1, 1)
        figures["domContentLoadedMs"] = round(timing["domContentLoaded"], 1)
        figures["pageFiles"] = timing["files"]
        figures["pageBytes"] = sum(f["body"] for f in timing["files"])
        figures["pageTransferBytes"] = sum(f["transfer"] for f in timing["files"])
        check(timing["firstContentfulPaint"] is not None, f"first contentful paint at {figures['firstContentfulPaintMs']} ms")
        check(len(timing["files"]) == 5, f"the page loads 5 files, all from /dashboard: {[f['name'] for f in timing['files']]}")
        unlabelled = driver.execute_script("""
            return [...document.querySelectorAll('input, select, textarea')].filter(e =>
              e.type !== 'hidden' && e.labels.length === 0 && !e.getAttribute('aria-label')).map(e => e.id || e.name);""")
        check(unlabelled == [], f"every control has a label (unlabelled: {unlabelled})")
        check(driver.switch_to.active_element.get_attribute("id") == "api-key", "the key field has the focus")
        shoot(driver, output, "01-key.png")

        # A wrong key: the error next to the field, nothing else shown.
        driver.switch_to.active_element.send_keys("krs_not-a-key" + Keys.ENTER)
        wait(driver, lambda d: text(d, "key-error") != "", 10, "a wrong key is refused next to the field")
        check("UNAUTHORIZED" in text(driver, "key-error"), f"key error: {text(driver, 'key-error')!r}")
        check(not driver.find_element(By.ID, "main").is_displayed(), "nothing is shown without a valid key")

        # The key, by keyboard.
        field = driver.find_element(By.ID, "api-key")
        field.send_keys(api.key + Keys.ENTER)
        wait(driver, lambda d: d.find_element(By.ID, "main").is_displayed(), 10, "a valid key opens the dashboard")
        check(driver.execute_script("return sessionStorage.getItem('kairos.dashboard.apiKey')") == api.key, "the key is in sessionStorage")
        check(driver.execute_script("return localStorage.getItem('kairos.dashboard.apiKey')") is None, "not in localStorage")
        check(api.key not in driver.current_url, "the key is not in the URL")
        check(field.get_attribute("value") == "", "the key field is cleared")

        # Create from the catalog.
        Select(driver.find_element(By.ID, "catalog")).select_by_value("capability-divergence")
        driver.find_element(By.CSS_SELECTOR, "#create-catalog button[type=submit]").click()
        wait(driver, lambda d: d.find_element(By.ID, "sim-panel").is_displayed() and text(d, "sim-id") != "", 10,
             "creating opens the new simulation")
        sim_id = text(driver, "sim-id")
        listed = api.json("GET", "/v1/simulations?limit=5")["data"]
        check(listed and listed[0]["id"] == sim_id and listed[0]["scenarioId"] == "capability-divergence",
              f"the API lists the new simulation {sim_id} first")
        wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, f"#sim-rows tr[data-id='{sim_id}']"), 10, "the list shows it")
        check(text(driver, "tick") == "0", "a new simulation is at tick 0")
        wait(driver, lambda d: text(d, "feed-state") == "live", 10, "the live feed connects")

        # Play (by keyboard) at speed 10 = 100 ticks/s: the counter and the chart grow.
        Select(driver.find_element(By.ID, "speed")).select_by_value("10")
        driver.find_element(By.ID, "play").send_keys(Keys.ENTER)
        wait(driver, lambda d: text(d, "sim-status") == "playing", 10, "play starts the simulation")
        wait(driver, lambda d: points(d) >= 20, 20, "ticks arrive")
        p1, t1 = points(driver), int(text(driver, "tick"))
        time.sleep(1.5)
        p2, t2 = points(driver), int(text(driver, "tick"))
        check(p2 > p1, f"the chart's point count grows ({p1} → {p2})")
        check(t2 > t1, f"the tick counter advances ({t1} → {t2})")
        figures["liveTicksPerSecondSeen"] = round((p2 - p1) / 1.5, 1)
        drawn = int(figure_data(driver, "drawn") or 0)
        check(drawn > 0, f"the chart draws ({drawn} vertices)")

        # The server restarts while playing: the page reconnects with Last-Event-ID.
        if restart:
            console += browser_log(driver)
            connects = int(driver.execute_script("return document.body.dataset.connects"))
            restart()
            wait(driver, lambda d: int(d.execute_script("return document.body.dataset.connects")) > connects, 30,
                 "the feed reconnects after the server restarted")
            wait(driver, lambda d: text(d, "feed-state") == "live", 10, "and is live again")
            p3 = points(driver)
            wait(driver, lambda d: points(d) > p3 + 50, 10, "ticks keep coming after the reconnect")
            console += [e for e in browser_log(driver) if not RESTART_NOISE.search(e["message"])]

        # A decree: in the log, then as a marker once applied.
        submit_decree(driver, "guardrail_upgrade", "frontier_model", "0.4")
        wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#event-log li[data-kind=decree]"), 10, "the decree is in the log")
        wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#event-log li[data-kind=applied]"), 10, "its application is in the log")
        wait(driver, lambda d: int(figure_data(d, "decreeMarkers") or 0) >= 1, 10, "the decree is a marker on the chart")
        submitted = driver.find_element(By.CSS_SELECTOR, "#event-log li[data-kind=decree]").text
        applied = driver.find_element(By.CSS_SELECTOR, "#event-log li[data-kind=applied]")
        applied_tick = applied.get_attribute("data-tick")
        check("guardrail_upgrade" in submitted and "frontier_model" in submitted, f"log: {submitted!r}")
        check("guardrail_upgrade" in applied.text, f"log: {applied.text!r}")
        # Invalid decree: the API's validation error next to the field.
        submit_decree(driver, "guardrail_upgrade", "frontier_model", "11")
        wait(driver, lambda d: text(d, "decree-magnitude-error") != "", 10, "a bad magnitude is refused next to its field")
        check("magnitude" in text(driver, "decree-magnitude-error"), f"magnitude error: {text(driver, 'decree-magnitude-error')!r}")
        time.sleep(1)
        driver.execute_script("document.getElementById('sim-panel').scrollIntoView()")
        shoot(driver, output, "02-live.png")

        # Pause: the page holds exactly the ticks the server computed, each once.
        driver.find_element(By.ID, "pause").click()
        wait(driver, lambda d: text(d, "sim-status") == "paused", 10, "pause stops it")
        server_tick = api.json("GET", f"/v1/simulations/{sim_id}")["tick"]
        wait(driver, lambda d: points(d) == server_tick, 10, f"the chart holds every tick up to the server's ({server_tick})")
        check(int(text(driver, "tick")) == server_tick, f"tick counter {text(driver, 'tick')} = server {server_tick}")
        check(driver.execute_script("return document.body.dataset.gaps") == "0", "no tick was missing from the feed")
        before = {"points": points(driver), "decrees": figure_data(driver, "decreeMarkers"),
                  "warnings": figure_data(driver, "warningMarkers"), "prophecies": figure_data(driver, "prophecyMarkers"),
                  "losses": figure_data(driver, "lossMarkers"), "paradoxes": figure_data(driver, "paradoxMarkers")}
        before_log = [e.text for e in driver.find_elements(By.CSS_SELECTOR, "#event-log li[data-kind=applied]")]

        # Reload: the same history, from the trace; the digest is the API's.
        driver.refresh()
        wait(driver, lambda d: d.find_element(By.ID, "sim-panel").is_displayed() and text(d, "sim-id") == sim_id, 20,
             "a reload reopens the simulation (key from sessionStorage, id from the fragment)")
        wait(driver, lambda d: points(d) == before["points"], 20, f"the reloaded chart has the same {before['points']} ticks")
        after = {"points": points(driver), "decrees": figure_data(driver, "decreeMarkers"),
                 "warnings": figure_data(driver, "warningMarkers"), "prophecies": figure_data(driver, "prophecyMarkers"),
                 "losses": figure_data(driver, "lossMarkers"), "paradoxes": figure_data(driver, "paradoxMarkers")}
        check(after == before, f"same history after a reload: {before} / {after}")
        after_log = [e.text for e in driver.find_elements(By.CSS_SELECTOR, "#event-log li[data-kind=applied]")]
        check(after_log == before_log, f"the applied decree is in the reloaded log at tick {applied_tick}")
        status, headers, body = api.request("GET", f"/v1/simulations/{sim_id}/trace", accept="application/x-ndjson")
        digest = headers.get("X-Trace-Digest")
        wait(driver, lambda d: digest in text(d, "digest"), 10, f"the digest shown is the API's {digest}")
        shoot(driver, output, "03-reloaded.png")

        # A policy change: in the log, applied at the next tick.
        Select(driver.find_element(By.ID, "policy-agent")).select_by_value("open_model")
        check(driver.find_element(By.ID, "policy-lambda").get_attribute("value") != "", "the policy form shows the agent's policy")
        for field, value in [("policy-lambda", "0.9"), ("policy-gamma", "0.25")]:
            driver.find_element(By.ID, field).clear()
            driver.find_element(By.ID, field).send_keys(value)
        driver.find_element(By.CSS_SELECTOR, "#policy-form button[type=submit]").click()
        wait(driver, lambda d: any("policy" in e.text and "open_model" in e.text
                                   for e in d.find_elements(By.CSS_SELECTOR, "#event-log li[data-kind=decree]")), 10,
             "the policy change is in the log")
        driver.find_element(By.ID, "policy-gamma").clear()
        driver.find_element(By.ID, "policy-gamma").send_keys("2")
        driver.find_element(By.CSS_SELECTOR, "#policy-form button[type=submit]").click()
        wait(driver, lambda d: text(d, "policy-gamma-error") != "", 10, "a bad γ is refused next to its field")

        # Resuming after the reload continues with the next tick.
        driver.find_element(By.ID, "step").click()
        wait(driver, lambda d: points(d) == before["points"] + 1, 10, "one step adds exactly one tick after the trace")
        wait(driver, lambda d: any("policy" in e.text for e in d.find_elements(By.CSS_SELECTOR, "#event-log li[data-kind=applied]")),
             10, "the policy change is applied at that tick")
        check(driver.find_element(By.CSS_SELECTOR, "#agent-rows tr[data-agent=open_model] td[data-field=lambda]").text == "0.900",
              "the agent table shows the new λ")
        driver.find_element(By.ID, "step-count").clear()
        driver.find_element(By.ID, "step-count").send_keys("250")
        driver.find_element(By.ID, "advance").click()
        wait(driver, lambda d: points(d) == before["points"] + 251, 15, "advancing 250 ticks adds 250 ticks")
        check(driver.execute_script("return document.body.dataset.gaps") == "0", "still no gap")

        # Download: an NDJSON file whose SHA-256 is the digest shown.
        driver.find_element(By.ID, "download").click()
        wait(driver, lambda d: "sha256:" in text(d, "digest") and f"0–{before['points'] + 250})" in text(d, "digest"), 15,
             "the download shows the digest of the current trace")
        status, headers, body = api.request("GET", f"/v1/simulations/{sim_id}/trace", accept="application/x-ndjson")
        check(headers.get("X-Trace-Digest") in text(driver, "digest"), f"digest {text(driver, 'digest')!r}")

        # Fork at tick 100: a new simulation with the original's first 100 ticks (same trace lines).
        fork_field = driver.find_element(By.ID, "fork-tick")
        fork_field.clear()
        fork_field.send_keys("999999")
        driver.find_element(By.ID, "fork").click()
        wait(driver, lambda d: text(d, "fork-error") != "", 10, "a tick past the end is refused next to the fork field")
        fork_field.clear()
        fork_field.send_keys("100")
        driver.find_element(By.ID, "fork").click()
        wait(driver, lambda d: text(d, "sim-id") not in ("", sim_id) and points(d) == 100, 15, "the fork opens with 100 ticks")
        check(sim_id in text(driver, "sim-origin") and "tick 100" in text(driver, "sim-origin"),
              f"it shows its origin: {text(driver, 'sim-origin')!r}")
        original_lines = body.split(b"\n")[:100]
        expected = "sha256:" + hashlib.sha256(b"".join(line + b"\n" for line in original_lines)).hexdigest()
        wait(driver, lambda d: expected in text(d, "digest"), 10, "its digest is that of the original's first 100 trace lines")
        fork_id = text(driver, "sim-id")
        check(text(driver, "policy-gamma-error") == "" and text(driver, "fork-error") == "",
              "the fork's view does not show its origin's refusals")
        wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, f"#sim-rows tr[data-id='{fork_id}']"), 10, "the fork is listed")
        check("fork of " + sim_id[:8] in driver.find_element(By.CSS_SELECTOR, f"#sim-rows tr[data-id='{fork_id}']").text,
              "the list names what it forked")
        compare_fork(driver, api, output, sim_id, fork_id)

        # Create from JSON: a validation error next to the field, then the XSS agent name as text.
        driver.find_element(By.CSS_SELECTOR, "#json-panel summary").click()
        body_field = driver.find_element(By.ID, "json-body")
        check("\"scenario\"" in body_field.get_attribute("value"), "the JSON form starts with a native scenario example")
        body_field.clear()
        body_field.send_keys('{"scenario": {"seed": -1, "agents": [], "initialState": {"stability": 2}}}')
        driver.find_element(By.CSS_SELECTOR, "#create-json button[type=submit]").click()
        wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#json-errors li"), 10, "validation errors are listed")
        errors = text(driver, "json-errors")
        check("scenario.seed" in errors and "scenario.initialState.stability" in errors, f"errors name the fields: {errors!r}")
        body_field.clear()
        body_field.send_keys('{"scenario": {"seed": 3,\n "agents": [oops]}}')
        driver.find_element(By.CSS_SELECTOR, "#create-json button[type=submit]").click()
        wait(driver, lambda d: "line 2" in text(d, "json-errors"), 10, "malformed JSON shows line and column")
        scenario = {"scenario": {"seed": 11, "agents": [{"id": XSS}, {"id": "b"}], "initialState": {"stability": 0.8}}}
        body_field.clear()
        driver.execute_script("arguments[0].value = arguments[1]", body_field, json.dumps(scenario))
        driver.find_element(By.CSS_SELECTOR, "#create-json button[type=submit]").click()
        wait(driver, lambda d: XSS in text(d, "sim-scenario"), 10, "the new simulation opens, its name shown as text")
        xss_id = text(driver, "sim-id")
        wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, f"#sim-rows tr[data-id='{xss_id}']"), 10, "it is listed")
        row_text = wait(driver, lambda d: d.find_element(By.CSS_SELECTOR, f"#sim-rows tr[data-id='{xss_id}']").text or None,
                        10, "its row is read")
        check(row_text is not None and XSS in row_text, f"the list shows the name as text: {row_text!r}")
        check(XSS in text(driver, "agent-rows"), "the agent table shows it as text")
        driver.find_element(By.ID, "step").click()
        wait(driver, lambda d: points(d) == 1, 10, "it steps")
        check(driver.execute_script("return document.querySelectorAll('img').length") == 0, "no <img> was created")
        check(not alert_present(driver), "no alert ran")
        shoot(driver, output, "04-xss-as-text.png")

        # Another organization's community key (one SSE stream at a time): forget the first key,
        # use this one; a reload must get its stream slot back at once.
        if community_key:
            driver.find_element(By.ID, "forget-key").click()
            wait(driver, lambda d: d.find_element(By.ID, "key-panel").is_displayed(), 5, "forgetting the key shows the key form")
            check(driver.execute_script("return sessionStorage.getItem('kairos.dashboard.apiKey')") is None, "and drops it")
            driver.find_element(By.ID, "api-key").send_keys(community_key + Keys.ENTER)
            wait(driver, lambda d: d.find_element(By.ID, "main").is_displayed(), 10, "the community key opens the dashboard")
            check(not driver.find_elements(By.CSS_SELECTOR, f"#sim-rows tr[data-id='{sim_id}']"),
                  "another organization's simulations are not listed")
            driver.find_element(By.CSS_SELECTOR, "#create-catalog button[type=submit]").click()
            wait(driver, lambda d: text(d, "feed-state") == "live" and text(d, "sim-id") not in ("", sim_id, xss_id), 10,
                 "a community simulation is live")
            community_sim = text(driver, "sim-id")
            Select(driver.find_element(By.ID, "speed")).select_by_value("10")
            driver.find_element(By.ID, "play").click()
            wait(driver, lambda d: points(d) >= 30, 10, "it plays")
            started = time.monotonic()
            driver.refresh()
            wait(driver, lambda d: text(d, "sim-id") == community_sim and text(d, "feed-state") == "live", 20,
                 "after a reload the single stream slot is free again")
            figures["communityReloadToLiveSeconds"] = round(time.monotonic() - started, 2)
            p4 = points(driver)
            wait(driver, lambda d: points(d) > p4 + 30, 10, "ticks keep coming after the reload")
            driver.find_element(By.ID, "pause").click()
            wait(driver, lambda d: text(d, "sim-status") == "paused", 10, "it pauses")
            community_api = API(api.base, community_key)
            server_tick = community_api.json("GET", f"/v1/simulations/{community_sim}")["tick"]
            wait(driver, lambda d: points(d) == server_tick, 10, f"the chart holds exactly the server's {server_tick} ticks")
            driver.find_element(By.ID, "forget-key").click()
            driver.find_element(By.ID, "api-key").send_keys(api.key + Keys.ENTER)
            wait(driver, lambda d: d.find_element(By.ID, "main").is_displayed(), 10, "back to the first key")
            driver.execute_script("location.hash = arguments[0]", "simulation=" + xss_id)
            wait(driver, lambda d: text(d, "sim-id") == xss_id, 10, "the fragment opens a simulation")

        # Large type for projectors.
        driver.find_element(By.ID, "large-type").click()
        check(driver.execute_script("return document.documentElement.classList.contains('large')"), "large type is on")
        size = driver.execute_script("return getComputedStyle(document.body).fontSize")
        check(size == "22px", f"body text is 22px ({size})")
        driver.execute_script("window.scrollTo(0, 0)")
        shoot(driver, output, "05-large-type.png")
        driver.find_element(By.ID, "large-type").click()

        if not skip_perf:
            measure_performance(driver, base, api, output, figures)

        console = browser_log(driver)
    finally:
        try:
            console += browser_log(driver)
        except Exception:
            pass
        driver.quit()
    violations = [e["message"] for e in console if "Content Security Policy" in e["message"] or "Refused to" in e["message"]]
    check(violations == [], f"no CSP violation ({violations[:3]})")
    # The wrong key (401) and the refused bodies (400) are expected network errors; nothing else.
    errors = [e["message"] for e in console if e["level"] == "SEVERE"
              and not re.search(r"Failed to load resource: the server responded with a status of (400|401)", e["message"])]
    check(errors == [], f"no script error in the console ({errors[:3]})")
    return figures


def stabilities(api, sim_id):
    """The stability of each tick of a simulation's trace (NDJSON from the API)."""
    _, _, body = api.request("GET", f"/v1/simulations/{sim_id}/trace", accept="application/x-ndjson")
    return [json.loads(line)["state"]["stability"] for line in body.split(b"\n") if line]


def divergence(a, b):
    """The language's `diff` on two stability lists, over the ticks both hold: the first index whose
    values differ (None: none), the largest absolute difference and its first index (None: 0)."""
    common = min(len(a), len(b))
    first = next((i for i in range(common) if a[i] != b[i]), None)
    largest, at = 0.0, None
    for i in range(common):
        if abs(b[i] - a[i]) > largest:
            largest, at = abs(b[i] - a[i]), i
    return first, largest, at, common


def comparison_shown(driver):
    return (figure_data(driver, "compare") == "on" and driver.find_element(By.ID, "legend-origin").is_displayed()
            and driver.find_element(By.ID, "sim-divergence").is_displayed())


def submit_decree(driver, kind, target, magnitude):
    """Fills the decree form (target "" is every agent) and submits it."""
    Select(driver.find_element(By.ID, "decree-kind")).select_by_value(kind)
    Select(driver.find_element(By.ID, "decree-target")).select_by_value(target)
    field = driver.find_element(By.ID, "decree-magnitude")
    field.clear()
    field.send_keys(magnitude)
    driver.find_element(By.CSS_SELECTOR, "#decree-form button[type=submit]").click()


def compare_fork(driver, api, output, sim_id, fork_id):
    """The open fork (at tick 100 of `sim_id`, which had a decree later) beside its origin: the overlay,
    then a different decree on the fork and where the branches part, the toggle, and a second fork with
    no new decree that does not part."""
    origin_ticks = api.json("GET", f"/v1/simulations/{sim_id}")["tick"]
    wait(driver, lambda d: figure_data(d, "originState") == "loaded", 20, "the fork reads its origin's trace")
    check(figure_data(driver, "originPoints") == str(origin_ticks), f"the overlay holds the origin's {origin_ticks} ticks "
          f"({figure_data(driver, 'originPoints')})")
    wait(driver, lambda d: int(figure_data(d, "originDrawn") or 0) > 0, 10,
         f"the origin's line is drawn ({figure_data(driver, 'originDrawn')} vertices)")
    check(comparison_shown(driver), "the comparison, its legend and facts are shown")
    check(sim_id[:8] in driver.find_element(By.ID, "legend-origin").text, f"the legend names the origin: "
          f"{driver.find_element(By.ID, 'legend-origin').text!r}")
    check(figure_data(driver, "forkTick") == "100", f"the fork tick is marked ({figure_data(driver, 'forkTick')})")
    wait(driver, lambda d: text(d, "sim-divergence") == "no divergence yet" and figure_data(d, "divergenceTick") == "none", 10,
         "the copied ticks do not part")

    # A decree the origin never had (a shock), then 200 ticks.
    submit_decree(driver, "shock", "", "0.3")
    wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#event-log li[data-kind=decree]"), 10, "the fork's decree is logged")
    driver.find_element(By.ID, "step-count").clear()
    driver.find_element(By.ID, "step-count").send_keys("200")
    driver.find_element(By.ID, "advance").click()
    wait(driver, lambda d: points(d) == 300, 15, "the fork advances 200 ticks")
    first, largest, at, common = divergence(stabilities(api, sim_id), stabilities(api, fork_id))
    check(first is not None and first >= 100, f"the traces part at tick {first}, not before the fork tick 100")
    wait(driver, lambda d: figure_data(d, "comparedTicks") == str(common), 10, f"the page compared the {common} common ticks")
    shown = figure_data(driver, "divergenceTick")
    check(shown == str(first), f"the divergence tick on the page ({shown}) is the traces' ({first})")
    check(f"branches part at tick {first} " in text(driver, "sim-divergence"), f"facts: {text(driver, 'sim-divergence')!r}")
    check(driver.find_element(By.ID, "sim-divergence").get_attribute("aria-live") == "polite", "the divergence is announced politely")
    check(figure_data(driver, "maxGapTick") == str(at), f"the largest gap's tick on the page ({figure_data(driver, 'maxGapTick')}) "
          f"is the traces' ({at}, {largest:.6f})")
    gap = re.match(r"([0-9.e+-]+) at tick (\d+) \(over (\d+) common ticks", text(driver, "sim-gap"))
    check(gap is not None and abs(float(gap[1]) - largest) <= max(0.0005, largest * 0.01) and gap[2] == str(at) and gap[3] == str(common),
          f"the facts give the largest gap {largest:.6g} at tick {at} over {common} ticks: {text(driver, 'sim-gap')!r}")
    check(int(figure_data(driver, "originDrawn") or 0) > 0, "the origin's line is still drawn")
    driver.execute_script("document.getElementById('sim-panel').scrollIntoView()")
    shoot(driver, output, "03b-fork-compared.png")

    # The toggle, by keyboard.
    toggle = driver.find_element(By.ID, "compare-toggle")
    check(toggle.is_displayed() and "Compare with the origin" in driver.execute_script("return arguments[0].labels[0].textContent", toggle),
          "the toggle is shown and labelled")
    toggle.send_keys(Keys.SPACE)
    wait(driver, lambda d: figure_data(d, "compare") == "off" and figure_data(d, "originDrawn") == "0", 5, "the toggle hides the overlay")
    check(not driver.find_element(By.ID, "legend-origin").is_displayed() and not driver.find_element(By.ID, "sim-divergence").is_displayed(),
          "and its legend and facts")
    drawn_alone = int(figure_data(driver, "drawn") or 0)
    toggle.send_keys(Keys.SPACE)
    wait(driver, lambda d: figure_data(d, "compare") == "on" and int(figure_data(d, "originDrawn") or 0) > 0, 5, "and shows it again")
    check(int(figure_data(driver, "drawn") or 0) > drawn_alone, "the chart draws more vertices with the overlay")
    check(comparison_shown(driver), "with its legend and facts")

    # A fork after the origin's last decree and policy change, stepped with no new decree: no divergence.
    driver.execute_script("location.hash = arguments[0]", "simulation=" + sim_id)
    wait(driver, lambda d: text(d, "sim-id") == sim_id and points(d) == origin_ticks, 20, "the origin reopens")
    check(not driver.find_element(By.ID, "compare-toggle").is_displayed(), "no comparison toggle on a simulation that is not a fork")
    fork_tick = origin_ticks - 120
    driver.find_element(By.ID, "fork-tick").clear()
    driver.find_element(By.ID, "fork-tick").send_keys(str(fork_tick))
    driver.find_element(By.ID, "fork").click()
    wait(driver, lambda d: text(d, "sim-id") not in ("", sim_id, fork_id) and points(d) == fork_tick, 15,
         f"a second fork opens at tick {fork_tick}")
    same_id = text(driver, "sim-id")
    driver.find_element(By.ID, "step-count").clear()
    driver.find_element(By.ID, "step-count").send_keys("100")
    driver.find_element(By.ID, "advance").click()
    wait(driver, lambda d: points(d) == fork_tick + 100, 15, "it advances 100 ticks with no new decree")
    first, largest, at, common = divergence(stabilities(api, sim_id), stabilities(api, same_id))
    check(first is None and largest == 0 and common == fork_tick + 100, f"its trace repeats the origin's ({first}, {largest}, {common})")
    wait(driver, lambda d: figure_data(d, "originState") == "loaded" and figure_data(d, "comparedTicks") == str(common), 20,
         f"the page compared the {common} common ticks")
    check(text(driver, "sim-divergence") == "no divergence yet", f"facts: {text(driver, 'sim-divergence')!r}")
    check(figure_data(driver, "divergenceTick") == "none" and figure_data(driver, "maxGapTick") == "",
          "no divergence tick, no gap marked")
    check(text(driver, "sim-gap").startswith(f"0 over {common} common ticks"), f"gap: {text(driver, 'sim-gap')!r}")
    check(int(figure_data(driver, "originDrawn") or 0) > 0, "the origin's line is drawn (under the fork's)")
    driver.execute_script("document.getElementById('sim-panel').scrollIntoView()")
    shoot(driver, output, "03c-fork-no-divergence.png")


def measure_frames(driver, seconds=8):
    """Frame intervals for `seconds` while the open simulation plays, the chart draws meanwhile, and the
    stored ticks before and after."""
    driver.execute_script("performance.clearMeasures('kairos-stability-draw'); performance.clearMeasures('kairos-agent-draw')")
    first = points(driver)
    frames = driver.execute_async_script("""
        const done = arguments[arguments.length - 1];
        const deltas = []; let last = performance.now(); const end = last + arguments[0];
        function frame(now) { deltas.push(now - last); last = now; if (now < end) requestAnimationFrame(frame); else done(deltas); }
        requestAnimationFrame(frame);""", seconds * 1000)
    last = points(driver)
    draws = driver.execute_script("""
        return ['kairos-stability-draw', 'kairos-agent-draw'].map(n => performance.getEntriesByName(n).map(e => e.duration));""")
    return frames, draws, first, last


def pct(values, p):
    return round(values[min(len(values) - 1, int(len(values) * p))], 2) if values else None


def measure_performance(driver, base, api, output, figures):
    """A 98 000-tick simulation, opened from its trace, then playing at 100 ticks/s (8 s: up to ~98 800,
    short of the 100 000 where playback completes)."""
    sim = api.json("POST", "/v1/simulations", {"scenarioId": "capability-divergence"})
    for _ in range(9):
        api.json("POST", f"/v1/simulations/{sim['id']}/step", {"ticks": 10000})
    api.json("POST", f"/v1/simulations/{sim['id']}/step", {"ticks": 8000})
    started = time.monotonic()
    driver.get(base + "/dashboard#simulation=" + sim["id"])
    wait(driver, lambda d: points(d) == 98000, 300, "the 98 000-tick trace loads")
    figures["trace98kLoadSeconds"] = round(time.monotonic() - started, 1)
    wait(driver, lambda d: text(d, "feed-state") == "live", 30, "the feed connects after the trace")
    Select(driver.find_element(By.ID, "speed")).select_by_value("10")
    driver.find_element(By.ID, "play").click()
    wait(driver, lambda d: points(d) > 98050, 20, "ticks arrive after 98 000")
    frames, draws, first, last = measure_frames(driver)
    shoot(driver, output, "06-98k-ticks-playing.png")
    # Playing on to tick 100 000 completes it; a completed simulation is drawn from its trace.
    wait(driver, lambda d: text(d, "sim-status") == "completed", 60, "playback completes at tick 100 000")
    wait(driver, lambda d: points(d) == 100000, 10, "the chart holds all 100 000 ticks")
    wait(driver, lambda d: text(d, "feed-state") == "completed", 10, "the feed closes when completed")
    driver.refresh()
    wait(driver, lambda d: text(d, "feed-state") == "completed (drawn from its trace)" and points(d) == 100000, 120,
         "a completed simulation reopens from its trace, all 100 000 ticks")
    check(driver.find_element(By.ID, "play").get_attribute("disabled") is not None, "play is disabled when completed")
    shoot(driver, output, "07-completed-100k.png")
    frames = sorted(frames[1:])
    stability_draws = sorted(draws[0])
    agent_draws = sorted(draws[1])
    figures["frames"] = {"count": len(frames), "medianMs": pct(frames, 0.5), "p95Ms": pct(frames, 0.95), "maxMs": round(frames[-1], 2),
                         "ticksDuring": last - first, "storedTicks": last}
    figures["stabilityDrawMs"] = {"count": len(stability_draws), "median": pct(stability_draws, 0.5), "p95": pct(stability_draws, 0.95)}
    figures["agentDrawMs"] = {"count": len(agent_draws), "median": pct(agent_draws, 0.5), "p95": pct(agent_draws, 0.95)}
    check(last - first > 300, f"~100 ticks/s arrived while measuring ({last - first} in 8 s)")
    # Generous bounds (a loaded 2-core CI machine): the figures are what the report quotes.
    check(figures["frames"]["medianMs"] < 50, f"median frame {figures['frames']['medianMs']} ms at 100 ticks/s over ~98 000 ticks")
    check(figures["stabilityDrawMs"]["median"] is not None and figures["stabilityDrawMs"]["median"] < 30,
          f"median chart draw {figures['stabilityDrawMs']['median']} ms")

    # The same with the overlay: a fork at tick 97 000 of the completed 100 000-tick simulation, a
    # shock on the fork, playing at 100 ticks/s beside its origin's 100 000 ticks.
    fork = api.json("POST", f"/v1/simulations/{sim['id']}/fork", {"tick": 97000})
    api.json("POST", f"/v1/simulations/{fork['id']}/decrees", {"kind": "shock", "magnitude": 0.2})
    started = time.monotonic()
    driver.get(base + "/dashboard#simulation=" + fork["id"])
    wait(driver, lambda d: points(d) == 97000 and figure_data(d, "originState") == "loaded" and figure_data(d, "originPoints") == "100000",
         300, "the 97 000-tick fork and its origin's 100 000 ticks load")
    figures["fork97kAndOrigin100kLoadSeconds"] = round(time.monotonic() - started, 1)
    wait(driver, lambda d: text(d, "feed-state") == "live", 30, "the fork's feed connects")
    Select(driver.find_element(By.ID, "speed")).select_by_value("10")
    driver.find_element(By.ID, "play").click()
    wait(driver, lambda d: points(d) > 97050, 20, "the fork plays")
    frames, draws, first, last = measure_frames(driver)
    overlay_drawn = int(figure_data(driver, "originDrawn") or 0)
    driver.execute_script("document.getElementById('sim-panel').scrollIntoView()")
    shoot(driver, output, "08-fork-97k-overlay-playing.png")
    driver.find_element(By.ID, "pause").click()
    wait(driver, lambda d: text(d, "sim-status") == "paused", 10, "the fork pauses")
    check(overlay_drawn > 0, f"the origin's 100 000 ticks are drawn, decimated ({overlay_drawn} vertices)")
    div_first, _, div_at, common = divergence(stabilities(api, sim["id"]), stabilities(api, fork["id"]))
    wait(driver, lambda d: figure_data(d, "comparedTicks") == str(common), 10, f"the page compared the {common} common ticks")
    check(figure_data(driver, "divergenceTick") == ("none" if div_first is None else str(div_first)),
          f"the divergence tick on the page ({figure_data(driver, 'divergenceTick')}) is the traces' ({div_first})")
    check(figure_data(driver, "maxGapTick") == ("" if div_at is None else str(div_at)),
          f"so is the largest gap's ({figure_data(driver, 'maxGapTick')}, {div_at})")
    frames = sorted(frames[1:])
    stability_draws = sorted(draws[0])
    figures["framesWithOverlay"] = {"count": len(frames), "medianMs": pct(frames, 0.5), "p95Ms": pct(frames, 0.95),
                                    "maxMs": round(frames[-1], 2), "ticksDuring": last - first, "storedTicks": last,
                                    "originTicks": 100000, "originVerticesDrawn": overlay_drawn}
    figures["stabilityDrawWithOverlayMs"] = {"count": len(stability_draws), "median": pct(stability_draws, 0.5),
                                             "p95": pct(stability_draws, 0.95)}
    check(last - first > 300, f"~100 ticks/s arrived while measuring with the overlay ({last - first} in 8 s)")
    check(figures["framesWithOverlay"]["medianMs"] < 50,
          f"median frame {figures['framesWithOverlay']['medianMs']} ms at 100 ticks/s with the overlay")
    check(figures["stabilityDrawWithOverlayMs"]["median"] is not None and figures["stabilityDrawWithOverlayMs"]["median"] < 30,
          f"median chart draw with the overlay {figures['stabilityDrawWithOverlayMs']['median']} ms")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-perf", action="store_true", help="skip the 98 000-tick frame-time measurement")
    parser.add_argument("--base", help="an already running server (http://HOST:PORT) instead of starting one")
    parser.add_argument("--key", help="with --base: a key with simulation:read,simulation:write")
    args = parser.parse_args()
    binary = os.environ.get("KAIROS_BIN") or os.path.join(ROOT, ".build/debug/kairos")
    output = os.path.abspath(os.environ.get("DASHBOARD_TEST_OUTPUT") or os.path.join(ROOT, ".build", "dashboard-test"))
    shutil.rmtree(output, ignore_errors=True)
    os.makedirs(output)
    work = tempfile.mkdtemp(prefix="kairos-dashboard-")
    if args.base:
        server, base, key, community_key = None, args.base.rstrip("/"), args.key, None
    else:
        db = os.path.join(work, "kairos.db")
        key = create_key(binary, db, "--org", "acme", "--tier", "professional",
                         "--scopes", "simulation:read,simulation:write,org:read")
        community_key = create_key(binary, db, "--org", "school", "--tier", "community",
                                   "--scopes", "simulation:read,simulation:write")
        server, port = start_server(binary, db)
        base = f"http://127.0.0.1:{port}"
    print(f"dashboard-test: {base}/dashboard, output {output}")
    holder = {"server": server}

    def restart():
        started = time.monotonic()
        old = holder["server"]
        if os.environ.get("DASHBOARD_TEST_SIGTERM") == "1":
            old.terminate()
            try:
                old.wait(timeout=30)
            except subprocess.TimeoutExpired:
                dump = os.path.join(output, "sigterm-hang-backtrace.txt")
                with open(dump, "w") as f:
                    subprocess.run(["gdb", "-p", str(old.pid), "-batch", "-ex", "thread apply all bt"], stdout=f,
                                   stderr=subprocess.STDOUT, timeout=120)
                check(False, f"kairos serve did not stop within 30 s of SIGTERM (backtrace: {dump})")
                old.kill()
                old.wait()
        else:
            old.kill()
            old.wait()
        print(f"  server stopped {time.monotonic() - started:.2f} s after the signal; restarting on port {port}")
        holder["server"], _ = start_server(binary, db, port)

    try:
        # The page's headers, as a browser gets them.
        with urllib.request.urlopen(base + "/dashboard") as response:
            check("script-src 'self'" in response.headers.get("Content-Security-Policy", ""), "the page has a strict CSP")
            check(response.headers.get("X-Content-Type-Options") == "nosniff", "nosniff")
        figures = run(base, API(base, key), output, args.skip_perf, restart=None if args.base else restart,
                      community_key=community_key)
    finally:
        if holder["server"] and holder["server"].poll() is None:
            holder["server"].terminate()
            try:
                holder["server"].wait(timeout=20)
            except subprocess.TimeoutExpired:
                holder["server"].kill()
        shutil.rmtree(work, ignore_errors=True)
    with open(os.path.join(output, "figures.json"), "w") as f:
        json.dump(figures, f, indent=2)
    print("figures: " + json.dumps({k: v for k, v in figures.items() if k != "pageFiles"}))
    if failures:
        print(f"dashboard-test: {len(failures)} check(s) failed", file=sys.stderr)
        for failure in failures:
            print("  " + failure, file=sys.stderr)
        sys.exit(1)
    print("dashboard-test: every check passed")


if __name__ == "__main__":
    main()
