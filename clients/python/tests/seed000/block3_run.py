trace = client.run(
scenario=my_scenario,
ticks=1000,
organization_id="org_id" # Optional, for billing/tracking purposes
)
