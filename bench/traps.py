"""The trap set: challenges where one word belongs to another field than the need.

A matcher that lets a single word pick the topic ("chain" → supply chain, "agent" → AI agents)
ranks the wrong field first; keyword search is hurt less, since the other words still count.
Each trap names the tags and industries of the dataset that define a relevant company (one of
them is enough, as in ``embedding_choice.build_challenges``) and the misleading word, which the
text must contain. Plain data and standard library only, so a unit test can load it cheaply.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

MIN_RELEVANT = 5  # as for the tag challenges: fewer relevant companies say little


@dataclass(frozen=True)
class Trap:
    text: str
    word: str  # the misleading word, present in the text
    tags: tuple[str, ...] = ()
    industries: tuple[str, ...] = ()

    def labels(self) -> tuple[str, ...]:
        return self.tags + self.industries

    def has_word(self) -> bool:
        return re.search(rf"\b{re.escape(self.word)}", self.text, re.IGNORECASE) is not None


def T(text: str, word: str, tags: Iterable[str] = (), industries: Iterable[str] = ()) -> Trap:
    return Trap(text, word, tuple(tags), tuple(industries))


HIRING = ("Recruiting", "HR Tech", "Talent Acquisition")
PEOPLE = ("Human Resources", "Recruiting and Talent")
HOMES = ("Real Estate", "Proptech", "Housing")
FOOD = ("Food & Beverage", "Food Tech", "Restaurant Tech")
SHOPS = ("E-commerce", "E-Commerce", "Retail", "Fashion")
LEARNING = ("Education", "Edtech", "eLearning", "AI-Enhanced Learning")
WELLNESS = ("Fitness", "Health & Wellness", "Consumer Health Services", "Sports Tech")
OPS = ("DevOps", "Monitoring", "AIOps", "Infrastructure", "Cloud Computing")

TRAPS: tuple[Trap, ...] = (
    # words that pull towards logistics, crypto, cloud and developer tools
    T("We run a chain of hospitals and must hire and onboard nurses much faster.", "chain", HIRING, PEOPLE),
    T(
        "A coffee roaster called Java Hills wants to sell more bags of beans online.",
        "Java",
        (*FOOD, *SHOPS[:2]),
        ("Food and Beverage",),
    ),
    T(
        "A telecom operator needs to decide where new cell towers go and watch their signal.",
        "cell",
        ("Telecommunications",),
    ),
    T(
        "A city transit agency wants a token system so riders pay bus fares with their phones.",
        "token",
        ("Payments", "Transportation", "Mobility"),
        ("Payments", "Transportation Services"),
    ),
    T(
        "A laundromat owner wants to retire the coin slots and take payments by phone.",
        "coin",
        ("Payments",),
        ("Payments",),
    ),
    T(
        "A bookkeeping firm keeps the general ledger for hundreds of small businesses.",
        "ledger",
        ("Finance",),
        ("Finance and Accounting",),
    ),
    T(
        "A courier wants swift delivery of parcels across the city the same afternoon.",
        "swift",
        ("Delivery", "Logistics"),
        ("Supply Chain and Logistics",),
    ),
    T(
        "A port operator must track every shipping container taken off the ships.",
        "container",
        ("Logistics", "Supply Chain"),
        ("Supply Chain and Logistics",),
    ),
    T(
        "A restaurant wants its servers to take orders at the table on tablets.",
        "servers",
        FOOD,
        ("Food and Beverage",),
    ),
    T(
        "A jeweller sells ruby and sapphire rings and wants more online shoppers.",
        "ruby",
        SHOPS,
        ("Retail", "Apparel and Cosmetics"),
    ),
    T(
        "Bridge owners want to spot rust on steel beams before it weakens them.",
        "rust",
        ("Construction", "Drones", "Computer Vision"),
        ("Construction",),
    ),
    T(
        "An auto repair shop wants customers to book visits and order spark plugs and tyres.",
        "spark",
        ("Automotive",),
        ("Automotive",),
    ),
    T(
        "Solar farm operators need forecasts of cloud cover to predict their power output.",
        "cloud",
        ("Solar Power", "Renewable Energy", "Energy"),
        ("Energy",),
    ),
    T(
        "An oil company needs sensors to find leaks along its pipeline in the desert.",
        "pipeline",
        ("Energy", "IoT", "Industrial"),
        ("Energy",),
    ),
    T(
        "A family with a new baby wants to rent storage space for furniture while they move.",
        "storage",
        ("Home Services", "Furniture", *HOMES),
        ("Home and Personal",),
    ),
    T(
        "A lakeside hotel wants more guests booking its rooms for summer weekends.",
        "lake",
        ("Travel",),
        ("Travel, Leisure and Tourism",),
    ),
    T(
        "A charitable foundation wants to raise more donations from the public online.",
        "foundation",
        ("Nonprofit", "Crowdfunding"),
    ),
    T(
        "A mobile home park wants to collect rent and handle repair requests from residents.",
        "mobile",
        HOMES,
        ("Housing and Real Estate",),
    ),
    # words that pull towards AI and machine learning
    T(
        "A real estate agent wants more leads from people looking to sell their homes.",
        "agent",
        HOMES,
        ("Housing and Real Estate",),
    ),
    T(
        "A dental practice needs to hire dental assistants and hygienists quickly.",
        "assistants",
        (*HIRING, "Dental"),
        PEOPLE,
    ),
    T(
        "An airline must schedule its pilots and copilots across hundreds of routes.",
        "copilots",
        ("Airplanes", "Aerospace", "Travel"),
        ("Aviation and Space",),
    ),
    T(
        "A power utility wants to know which of its transformers will fail next winter.",
        "transformers",
        ("Energy", "Renewable Energy", "Industrial", "IoT"),
        ("Energy",),
    ),
    T(
        "A cattle ranch wants to plan artificial insemination and feeding for its herd.",
        "artificial",
        ("Agriculture",),
        ("Agriculture",),
    ),
    T(
        "A fashion agency wants to book models for photo shoots and runway shows.",
        "models",
        ("Fashion",),
        ("Apparel and Cosmetics",),
    ),
    T(
        "A railway wants to keep its trains on time with better maintenance planning.",
        "trains",
        ("Transportation", "Mobility"),
        ("Transportation Services",),
    ),
    T(
        "Emergency services want prompt dispatch of ambulances to people who call for help.",
        "prompt",
        ("GovTech", "Civic Tech", "Telehealth"),
        ("Government", "Healthcare Services"),
    ),
    T(
        "A public health office tracks mosquitoes, the vector that spreads dengue, in each district.",
        "vector",
        ("GovTech", "Diagnostics"),
        ("Government", "Diagnostics"),
    ),
    T(
        "A memory care home wants to help residents with dementia and keep their families informed.",
        "memory",
        ("Consumer Health Services", "Neurotechnology", "Mental Health"),
        ("Healthcare Services",),
    ),
    # words that pull towards health and biology
    T(
        "Our developers want to diagnose why the web pages of our product load slowly.",
        "diagnose",
        OPS,
        ("Infrastructure",),
    ),
    T(
        "An IT team wants alerts about the health of its servers and databases at night.",
        "health",
        OPS,
        ("Infrastructure",),
    ),
    T(
        "We need patient tutors for children who struggle with maths homework.",
        "patient",
        (*LEARNING, "Kids"),
        ("Education",),
    ),
    T(
        "A company's laptops keep catching a virus from email attachments and we need protection.",
        "virus",
        ("Security", "Cybersecurity"),
        ("Security",),
    ),
    T(
        "Our remote company wants a stronger culture and more trust between teams.",
        "culture",
        ("HR Tech", "Remote Work", "Team Collaboration", "Collaboration"),
        ("Human Resources",),
    ),
    T(
        "A manager wants a weekly pulse survey of how employees feel about their work.",
        "pulse",
        ("HR Tech", "Feedback"),
        ("Human Resources",),
    ),
    T(
        "A gym wants to sell protein shakes and snacks to its members after class.",
        "protein",
        (*WELLNESS, FOOD[0]),
        ("Consumer Health and Wellness",),
    ),
    T(
        "A hospital needs to charge patients correctly and send bills they understand.",
        "charge",
        ("Healthcare IT", "Billing"),
        ("Healthcare IT",),
    ),
    T(
        "Litigation lawyers must sort millions of documents during discovery.",
        "discovery",
        ("LegalTech", "Legal", "Documents"),
        ("Legal",),
    ),
    T(
        "A family settling an estate after a death needs help with the legal paperwork.",
        "estate",
        ("LegalTech", "Legal"),
        ("Legal",),
    ),
    T(
        "A bank wants short courses that teach its branch staff the compliance rules they must follow.",
        "compliance",
        LEARNING,
        ("Education",),
    ),
    # words that pull towards farming, finance, insurance, aviation and construction
    T(
        "Farmers want to catch the bug infestations that eat their crops before they spread.",
        "bug",
        ("Agriculture",),
        ("Agriculture",),
    ),
    T(
        "Our marketing team wants more organic growth from social media and search.",
        "organic",
        ("Marketing", "Social Media", "Advertising", "Creator Economy"),
        ("Marketing",),
    ),
    T(
        "A sales team wants to harvest leads from the visitors on its website.",
        "harvest",
        ("Sales", "Sales Enablement", "CRM"),
        ("Sales",),
    ),
    T(
        "Photographers want to crop, retouch and publish their pictures in minutes.",
        "crop",
        ("Design Tools", "Design", "Creator Economy"),
    ),
    T(
        "A car parts plant wants fewer defects coming off its assembly line.",
        "plant",
        ("Manufacturing", "Industrial", "Automation"),
        ("Manufacturing and Robotics",),
    ),
    T(
        "A yoga studio helps its members improve balance and flexibility, and wants more bookings.",
        "balance",
        WELLNESS,
        ("Consumer Health and Wellness",),
    ),
    T(
        "A university wants to track the course credits its students earn and transfer.",
        "credits",
        LEARNING,
        ("Education",),
    ),
    T(
        "A dating app wants to match people by the interests they share.",
        "interests",
        ("Dating", "Social Network", "Social", "Community"),
        ("Social",),
    ),
    T(
        "City hall in our state capital wants residents to report potholes from their phones.",
        "capital",
        ("GovTech", "Civic Tech"),
        ("Government",),
    ),
    T(
        "A grocery store keeps running out of stock on its shelves and wants to predict demand.",
        "stock",
        ("Retail", "Retail Tech", "Grocery"),
        ("Retail",),
    ),
    T(
        "A streaming service wants more of its viewers to upgrade to the premium plan.",
        "premium",
        ("Subscriptions", "Video", "Media", "Entertainment"),
    ),
    T(
        "A local newspaper wants wider coverage of elections with the same small staff.",
        "coverage",
        ("Media",),
        ("Content",),
    ),
    T(
        "Our company needs to write its parental leave policy and track time off.",
        "policy",
        ("HR Tech", "Payroll", "Human Resources"),
        ("Human Resources",),
    ),
    T(
        "A landlord wants tenants to pay rent and security deposits online.",
        "security",
        HOMES,
        ("Housing and Real Estate",),
    ),
    T(
        "A startup wants to stretch its cash runway by cutting what it spends each month.",
        "runway",
        ("Finance",),
        ("Finance and Accounting",),
    ),
    T(
        "Our marketing team needs landing pages that turn more visitors into sign-ups.",
        "landing",
        ("Marketing", "Advertising", "No-code", "Web Development"),
        ("Marketing",),
    ),
    T(
        "A running club training for sprint races wants workout plans for each member.",
        "sprint",
        WELLNESS,
        ("Consumer Health and Wellness",),
    ),
    T(
        "The army wants to plan how it deploys soldiers and supplies to remote bases.",
        "deploys",
        ("GovTech",),
        ("Defense",),
    ),
    T(
        "A potato chip maker wants its snacks on the shelves of more grocery stores.",
        "chip",
        (*FOOD[:2], "Consumer Products", "Grocery"),
        ("Food and Beverage",),
    ),
    T(
        "A landscaping firm trims hedges and mows lawns and wants customers to book online.",
        "hedges",
        ("Home Services",),
        ("Home and Personal",),
    ),
)


def company_labels(company: dict[str, Any]) -> set[str]:
    return set(company.get("tags") or []) | set(company.get("industries") or [])


def relevant(trap: Trap, companies: list[dict[str, Any]]) -> frozenset[int]:
    """Indices of the companies carrying one of the trap's tags (as a tag) or industries (as an industry)."""
    tags, industries = set(trap.tags), set(trap.industries)
    return frozenset(
        i
        for i, c in enumerate(companies)
        if tags & set(c.get("tags") or []) or industries & set(c.get("industries") or [])
    )
