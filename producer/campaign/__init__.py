"""Bulk verification campaigns: one OTP per number of a file, on the bulk lane.

    from producer.campaign import Campaigns

    campaigns = Campaigns.from_env()
    report = campaigns.start(rows, brand_name="ExampleCorp", source="Reverify2026")
    campaigns.status(report.campaign_id).to_dict()

See docs/campaigns.md for the guarantees (no number texted twice, budgets checked up
front, bounded memory) and the CLI (`otpq campaign ...`).
"""

from otpq_core.campaign_ids import campaign_id
from otpq_core.outcomes import Cancelled
from producer.campaign.budget import CampaignRefused
from producer.campaign.campaigns import Campaigns, CampaignStatus, StartReport, UnknownCampaign
from producer.campaign.rows import COLUMNS, InvalidRow

__all__ = [
    "COLUMNS",
    "CampaignRefused",
    "CampaignStatus",
    "Campaigns",
    "Cancelled",
    "InvalidRow",
    "StartReport",
    "UnknownCampaign",
    "campaign_id",
]
