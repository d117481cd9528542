"""HTTP routes of desk.notifications."""

from fastapi import APIRouter

router = APIRouter()
