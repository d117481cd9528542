"""HTTP routes of desk.sla."""

from fastapi import APIRouter

router = APIRouter()
