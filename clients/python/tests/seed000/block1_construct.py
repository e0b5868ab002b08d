from kairos import KairosClient
client = KairosClient(
url="https://api.anankelabs.ai", # Optional if KAIROS_URL is set
api_key="krs_...", # Optional if KAIROS_API_KEY is set
timeout=30.0, # Request timeout in seconds
engine_version="1.4.4", # Optional pinned engine version
max_retries=3, # Max transient error retries
retry_backoff=1.0, # Exponential backoff base delay
)
