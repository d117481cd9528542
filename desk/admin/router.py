"""HTTP routes of desk.admin."""

from fastapi import APIRouter

router = APIRouter()
